"""The project's reference models, built offline (nothing here serves a request).

- ``demo_model``: the tiny Qwen2-VL checkpoint (tokenizer, config, processor, template);
- ``training``: the phantom-trained reference models (recipes, the training loop), with
  ``training_examples`` (the rows and their targets) and ``evaluation`` (the held-out report);
- ``families``: tiny random checkpoints of each VLM family the runtime serves;
- ``phantom_data``: the phantom data sets they are trained and checked on;
- ``build_cache``: each cache folder built once, atomically, under a file lock.

The service finds and verifies the shipped weights itself (``service.reference``) and calls in
here only to build a model that is not shipped.
"""
