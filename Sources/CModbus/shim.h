#ifndef ISOWATCH_CMODBUS_SHIM_H
#define ISOWATCH_CMODBUS_SHIM_H
#include <errno.h>
#include <modbus/modbus.h>

// errno is a thread-local macro that Swift cannot read directly on every platform.
static inline int isowatch_errno(void) { return errno; }
#endif
