#ifndef CLIBSSH2_SHIM_H
#define CLIBSSH2_SHIM_H
// The only door to libssh2 (style point 2). Only Sources/Tunnel/LibSSH2/ imports this module.
// static inline wrappers are added here only for what Swift cannot import (function-like macros).
#include <libssh2.h>

// libssh2_channel_read is a function-like macro over libssh2_channel_read_ex (stream 0).
static inline ssize_t CLibSSH2_channel_read(LIBSSH2_CHANNEL *channel, char *buf, size_t buflen) {
    return libssh2_channel_read(channel, buf, buflen);
}

// libssh2_channel_write is a function-like macro over libssh2_channel_write_ex (stream 0).
static inline ssize_t CLibSSH2_channel_write(LIBSSH2_CHANNEL *channel, const char *buf, size_t buflen) {
    return libssh2_channel_write(channel, buf, buflen);
}

// libssh2_channel_window_write is a function-like macro over libssh2_channel_window_write_ex.
static inline unsigned long CLibSSH2_channel_window_write(LIBSSH2_CHANNEL *channel) {
    return libssh2_channel_window_write(channel);
}

// libssh2_session_disconnect is a function-like macro (reason BY_APPLICATION, no language tag).
static inline int CLibSSH2_session_disconnect(LIBSSH2_SESSION *session, const char *description) {
    return libssh2_session_disconnect(session, description);
}

// libssh2_userauth_publickey_fromfile is a function-like macro (user name length from strlen).
static inline int CLibSSH2_userauth_publickey_fromfile(LIBSSH2_SESSION *session, const char *username,
                                                       const char *publickey, const char *privatekey,
                                                       const char *passphrase) {
    return libssh2_userauth_publickey_fromfile(session, username, publickey, privatekey, passphrase);
}
#endif
