#ifndef CUDEV_SHIM_H
#define CUDEV_SHIM_H
// The only door to libudev (style point 2). Only Sources/ATModem/Discovery/ imports this module.
#include <libudev.h>
#endif
