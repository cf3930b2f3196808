"""Graph rewrites of a converted TFLite flatbuffer (needs TensorFlow's schema: used at export time only)."""

from __future__ import annotations

from edge_deblur.tflite_meta import _pack, _schema
from edge_deblur.tflite_reader import parse_model


def drop_identity_clips(tflite: bytes) -> tuple[bytes, list[str]]:
    """Remove int8 RELU / MINIMUM(x, c) ops that cannot change their input, and say which were removed.

    Full-integer conversion of a final `ReLU(max_value=1)` gives ADD(+RELU) -> MINIMUM(x, 1) -> RELU, where the
    ADD output is already quantized to exactly [0, 1]: the MINIMUM and RELU are then identities on every int8 value,
    but XNNPACK does not take int8 MINIMUM/RELU, so they would run on reference kernels. An op is removed only when
    that is provable from the quantization parameters: same scale and zero point in and out, and (RELU) a zero
    point at the type's minimum, or (MINIMUM) a constant at or above the largest representable input.

    Raises:
        ModelError: `tflite` is not a valid model.
    """
    import numpy as np

    parse_model(tflite, "converted model")
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    codes = [max(oc.builtinCode, oc.deprecatedBuiltinCode) for oc in model.operatorCodes]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    removed = []
    for sg in model.subgraphs:
        keep = []
        for op in sg.operators:
            if _is_identity(model, sg, op, codes[op.opcodeIndex], schema, np):
                src, dst = int(op.inputs[0]), int(op.outputs[0])
                for other in sg.operators:
                    other.inputs = [src if i == dst else i for i in other.inputs]
                sg.outputs = [src if i == dst else i for i in sg.outputs]
                removed.append(op_names.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex])))
            else:
                keep.append(op)
        sg.operators = keep
    return (_pack(model) if removed else tflite), removed


def _is_identity(model, sg, op, code, schema, np) -> bool:
    """True if an int8/uint8 RELU or MINIMUM-with-a-constant provably returns its input unchanged."""
    if code not in (schema.BuiltinOperator.RELU, schema.BuiltinOperator.MINIMUM) or len(op.outputs) != 1:
        return False
    x, y = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
    if x.type not in (schema.TensorType.INT8, schema.TensorType.UINT8) or y.type != x.type:
        return False
    qx, qy = x.quantization, y.quantization
    if qx is None or qy is None or qx.scale is None or qy.scale is None or len(qx.scale) != 1:
        return False
    if not (np.allclose(qx.scale, qy.scale, rtol=1e-6) and list(qx.zeroPoint) == list(qy.zeroPoint)):
        return False
    info = np.iinfo(np.int8 if x.type == schema.TensorType.INT8 else np.uint8)
    scale, zp = float(qx.scale[0]), int(qx.zeroPoint[0])
    if code == schema.BuiltinOperator.RELU:
        return len(op.inputs) == 1 and zp == info.min
    if len(op.inputs) != 2:
        return False
    c = sg.tensors[op.inputs[1]]
    data = model.buffers[c.buffer].data if c.buffer < len(model.buffers) else None
    cq = c.quantization
    if data is None or len(data) != 1 or c.type != x.type or cq is None or cq.scale is None or cq.zeroPoint is None:
        return False
    value = (int(np.asarray(data, dtype=np.uint8).view(info.dtype)[0]) - int(cq.zeroPoint[0])) * float(cq.scale[0])
    return value >= (info.max - zp) * scale * (1 - 1e-6)
