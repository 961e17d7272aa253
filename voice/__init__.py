"""Voice notes: fetch, decode in memory, transcribe, score, synthesise."""
