// Shared test helpers: ptys, sshd on loopback, temp dirs.
enum OOBTestSupportModule {}
