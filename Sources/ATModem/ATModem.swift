// Module ATModem: see README.md. (Skeleton file; replaced as the module is built.)
enum ATModemModule {}
