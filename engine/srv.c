/* srv.c — placeholder until the module lands. */
