"""Model execution (tensors, models, scripts, DAGs): the only place torch and onnxruntime
will be imported. Arrives with the AI.* commands; empty in the server core."""

__all__: list[str] = []
