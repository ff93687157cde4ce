"""SQLite storage: schema migrations and one repository module per record kind."""
