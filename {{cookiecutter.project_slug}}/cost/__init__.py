"""Cost report: the plan priced with the dated price tables, and $ per million output tokens."""
