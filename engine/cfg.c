/* cfg.c — placeholder until the module lands. */
