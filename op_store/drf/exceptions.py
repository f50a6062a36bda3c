"""``ExactlyOnceProblem``: re-exported from :mod:`op_store.lifecycle.drf_problems`, where the
decorator (a lower layer than this package) can reach it. See ``docs/drf.md``."""

from op_store.lifecycle.drf_problems import ExactlyOnceProblem, handle_problem, is_problem_response

__all__ = ["ExactlyOnceProblem", "handle_problem", "is_problem_response"]
