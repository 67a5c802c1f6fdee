"""First-party evaluators, registered lazily in :data:`nas.registry.EVALUATORS`.

Entries are ``"module:attr"`` strings so that importing this package (and
``nas``) never imports torch or Ray (README, "Code layout").
"""
from __future__ import annotations

from nas.registry import EVALUATORS, TRIALS

if "local" not in EVALUATORS:
    EVALUATORS.add("local", "evaluators.local:LocalEvaluator", "in-process training on this machine")
if "tabular" not in EVALUATORS:
    EVALUATORS.add("tabular", "evaluators.tabular:TabularEvaluator", "NAS-Bench-201 lookup from a CSV (simulated cost)")
if "ray" not in EVALUATORS:
    EVALUATORS.add("ray", "evaluators.ray:RayEvaluator", "trials as Ray tasks on a private or existing Ray cluster")
if "train" not in TRIALS:
    TRIALS.add("train", "evaluators.candidate:evaluate_candidate", "train and measure the proposal's architecture")
