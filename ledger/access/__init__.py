"""Who may do what: principals and their tokens, roles per action, reading rules."""
