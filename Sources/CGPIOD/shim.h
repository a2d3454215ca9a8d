#ifndef ISOWATCH_CGPIOD_SHIM_H
#define ISOWATCH_CGPIOD_SHIM_H
#include <errno.h>
#include <gpiod.h>

static inline int isowatch_gpiod_errno(void) { return errno; }
#endif
