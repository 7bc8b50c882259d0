"""Convert an 8-bit TFLite image classifier into an MXNet checkpoint (symbol + params).

MXNet cannot read TFLite, so the flatbuffer is parsed with the `tflite` package, every
uint8/int8 weight is dequantised (real = scale * (q - zero_point)), and the graph is
rebuilt with MXNet operators. The input's quantisation is folded into the graph, so the
MXNet model takes raw 0..255 RGB pixels in NCHW order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX")


class ConversionError(Exception):
    """The TFLite model uses something this converter does not support."""


@dataclass
class Converted:
    """The MXNet graph and its weights."""

    symbol: object
    arg_params: dict


def _op_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _type_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}


class _Graph:
    """Reads tensors and weights out of subgraph 0."""

    def __init__(self, model, graph) -> None:
        self.model, self.graph = model, graph
        self.types = _type_names()

    def tensor(self, index: int):
        return self.graph.Tensors(int(index))

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensor(index).ShapeAsNumpy())

    def quant(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        zero = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength())
        return q.ScaleAsNumpy().astype(np.float64), np.asarray(zero, dtype=np.float64)

    def raw(self, index: int) -> np.ndarray:
        tensor = self.tensor(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data is None:
            raise ConversionError(f"tensor {tensor.Name().decode()} has no stored data")
        dtype = {"UINT8": np.uint8, "INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32}[
            self.types[tensor.Type()]
        ]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(self.shape(index))

    def dequantised(self, index: int, axis: int = 0) -> np.ndarray:
        """A constant tensor as float32: scale * (q - zero_point), per tensor or per channel."""
        values = self.raw(index).astype(np.float64)
        quant = self.quant(index)
        if quant is None:
            return values.astype(np.float32)
        scale, zero = quant
        if scale.size > 1:  # per-channel quantisation along `axis`
            shape = [1] * values.ndim
            shape[axis] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((values - zero) * scale).astype(np.float32)


def _options(op, cls):
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding: the extra pixel, if any, goes after (bottom/right)."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _activation(mx, x, code: int, name: str):
    import tflite

    act = tflite.ActivationFunctionType
    if code == act.NONE:
        return x
    if code == act.RELU:
        return mx.sym.relu(x, name=f"{name}_relu")
    if code == act.RELU6:
        return mx.sym.clip(x, 0.0, 6.0, name=f"{name}_relu6")
    raise ConversionError(f"fused activation {code} is not supported")


def _padded(mx, x, shape_hw, kernel, stride, dilation, padding: int, name: str):
    """Apply SAME padding explicitly when it is asymmetric; returns (input, symmetric pad)."""
    import tflite

    if padding == tflite.Padding.VALID:
        return x, (0, 0)
    (top, bottom) = _same_padding(shape_hw[0], kernel[0], stride[0], dilation[0])
    (left, right) = _same_padding(shape_hw[1], kernel[1], stride[1], dilation[1])
    if top == bottom and left == right:
        return x, (top, left)
    x = mx.sym.pad(
        x,
        mode="constant",
        constant_value=0,
        pad_width=(0, 0, 0, 0, top, bottom, left, right),
        name=f"{name}_pad",
    )
    return x, (0, 0)


def convert(tflite_path: Path) -> Converted:
    """Rebuild the TFLite graph as an MXNet symbol with float32 weights."""
    import mxnet as mx
    import tflite

    model = tflite.Model.GetRootAsModel(Path(tflite_path).read_bytes(), 0)
    if model.SubgraphsLength() != 1:
        raise ConversionError("only single-subgraph models are supported")
    graph = _Graph(model, model.Subgraphs(0))
    g = graph.graph
    names = _op_names()
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())])

    (input_index,) = g.InputsAsNumpy()
    (output_index,) = g.OutputsAsNumpy()
    n, h, w, c = graph.shape(input_index)
    data = mx.sym.var("data")
    quant = graph.quant(input_index)
    x = data
    if quant is not None:
        # Fold the input's quantisation into the graph: the model takes raw 0..255 pixels.
        scale, zero = float(quant[0][0]), float(quant[1][0])
        x = (data - zero) * scale
    syms: dict[int, object] = {int(input_index): x}
    shapes: dict[int, tuple[int, ...]] = {int(input_index): (n, c, h, w)}
    params: dict[str, mx.nd.NDArray] = {}

    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        kind = codes[op.OpcodeIndex()]
        ins = [int(i) for i in op.InputsAsNumpy()]
        (out,) = (int(i) for i in op.OutputsAsNumpy())
        name = f"op{k}_{kind.lower()}"
        if kind not in SUPPORTED:
            raise ConversionError(f"operator {kind} is not supported (op {k})")

        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            src = syms[ins[0]]
            _, cin, hin, win = shapes[ins[0]]
            weight = graph.dequantised(ins[1], axis=0 if kind == "CONV_2D" else 3)
            if kind == "CONV_2D":
                opts = _options(op, tflite.Conv2DOptions)
                cout, kh, kw, _ = weight.shape
                weight = weight.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                groups = 1
            else:
                opts = _options(op, tflite.DepthwiseConv2DOptions)
                _, kh, kw, cout = weight.shape
                weight = weight.transpose(3, 0, 1, 2)  # 1HW(C*m) -> (C*m)1HW
                groups = cin
            stride = (opts.StrideH(), opts.StrideW())
            dilation = (opts.DilationHFactor() or 1, opts.DilationWFactor() or 1)
            bias = graph.dequantised(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            src, pad = _padded(
                mx, src, (hin, win), (kh, kw), stride, dilation, opts.Padding(), name
            )
            params[f"{name}_weight"] = mx.nd.array(weight)
            if bias is not None:
                params[f"{name}_bias"] = mx.nd.array(bias)
            y = mx.sym.Convolution(
                src,
                kernel=(kh, kw),
                stride=stride,
                dilate=dilation,
                pad=pad,
                num_filter=cout,
                num_group=groups,
                no_bias=bias is None,
                name=name,
            )
            y = _activation(mx, y, opts.FusedActivationFunction(), name)
            _, oh, ow, _ = graph.shape(out)
            shapes[out] = (n, cout, oh, ow)
        elif kind == "ADD":
            opts = _options(op, tflite.AddOptions)
            y = _activation(mx, syms[ins[0]] + syms[ins[1]], opts.FusedActivationFunction(),  # type: ignore[operator]
                            name)  # fmt: skip
            shapes[out] = shapes[ins[0]]
        elif kind == "AVERAGE_POOL_2D":
            opts = _options(op, tflite.Pool2DOptions)
            _, cin, hin, win = shapes[ins[0]]
            kernel = (opts.FilterHeight(), opts.FilterWidth())
            stride = (opts.StrideH(), opts.StrideW())
            src, pad = _padded(
                mx, syms[ins[0]], (hin, win), kernel, stride, (1, 1), opts.Padding(), name
            )
            y = mx.sym.Pooling(
                src,
                kernel=kernel,
                stride=stride,
                pad=pad,
                pool_type="avg",
                count_include_pad=False,
                name=name,
            )
            y = _activation(mx, y, opts.FusedActivationFunction(), name)
            _, oh, ow, _ = graph.shape(out)
            shapes[out] = (n, cin, oh, ow)
        elif kind == "RESHAPE":
            target = graph.shape(out)
            if len(target) != 2:
                raise ConversionError("only reshapes to (batch, features) are supported")
            y = mx.sym.reshape(syms[ins[0]], shape=(-1, target[1]), name=name)
            shapes[out] = (n, target[1])
        else:  # SOFTMAX
            opts = _options(op, tflite.SoftmaxOptions)
            src = syms[ins[0]]
            beta = opts.Beta()
            if beta != 1.0:
                src = src * beta
            y = mx.sym.softmax(src, axis=-1, name=name)
            shapes[out] = shapes[ins[0]]
        syms[out] = y

    if output_index not in syms:
        raise ConversionError("the graph's output was never computed")
    return Converted(syms[output_index], params)


def save(converted: Converted, prefix: Path) -> tuple[Path, Path]:
    """Write `prefix-symbol.json` and `prefix-0000.params` (MXNet's checkpoint layout)."""
    import mxnet as mx

    prefix.parent.mkdir(parents=True, exist_ok=True)
    mx.model.save_checkpoint(str(prefix), 0, converted.symbol, converted.arg_params, {})
    return Path(f"{prefix}-symbol.json"), Path(f"{prefix}-0000.params")
