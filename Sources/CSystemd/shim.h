#ifndef ISOWATCH_CSYSTEMD_SHIM_H
#define ISOWATCH_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
