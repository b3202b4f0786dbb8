"""Counting: what a model actually did, per op site (no pricing here)."""

from .profile import Profile
from .profiler import Profiler, profile, profile_loader

__all__ = ["Profile", "Profiler", "profile", "profile_loader"]
