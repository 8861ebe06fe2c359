#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
// The only door to OpenSSL's libssl (style point 2), for the HTTPS webhook. Only
// Sources/OOBAgent/TLS/ imports this module.
// static inline wrappers are added here only for what Swift cannot import (function-like macros).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

// SSL_CTX_set_min_proto_version is a function-like macro over SSL_CTX_ctrl.
static inline int COpenSSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

// SSL_set_tlsext_host_name (SNI) is a function-like macro over SSL_ctrl.
static inline int COpenSSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
#endif
