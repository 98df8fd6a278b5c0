/* terr.c — placeholder until the module lands. */
