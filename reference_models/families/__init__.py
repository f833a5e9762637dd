"""Tiny random checkpoints of the VLM families medical teams deploy, built offline.

Each builder (one module per family) uses the family's own config, model and processor classes
(PIL image processors, no torchvision), the project's locally trained BPE tokenizer with the
family's special tokens, and a chat template in the family's style, and saves a normal checkpoint
folder (``parts``). ``registry`` lists the families, writes the README's compatibility table and
caches the checkpoints. They prove that the runtime serves a family
(tests/unit/backends/test_families.py); they are not trained.
"""
