"""Web pages: the learner chat page (and, later, the teacher and admin app)."""
