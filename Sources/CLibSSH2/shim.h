#ifndef CLIBSSH2_SHIM_H
#define CLIBSSH2_SHIM_H
// The only door to libssh2 (style point 2). Only Sources/Tunnel/LibSSH2/ imports this module.
// static inline wrappers are added here only for what Swift cannot import (function-like macros).
#include <libssh2.h>
#endif
