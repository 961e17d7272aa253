"""The tutoring agents: conversation, grammar, vocabulary, pronunciation, progress."""
