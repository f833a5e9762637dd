"""Counterfactual grounding audits for vision-language models (framework-free)."""
