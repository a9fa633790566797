"""Bytes to descriptors: decoding (``decode``), the model registry and factory (``registry``,
``spec``, ``factory``), the neural backends (``onnx``, ``clip``, ``fake``), the hashes and
keypoints (``hashes``, ``local``) and the descriptor they make together (``descriptor``,
``encode``). Nothing here knows how descriptors are scored or stored."""
