"""The columns of :attr:`energymodel.Profile.layers`: one table, the contract between counting
and pricing.

Every count is a *sum over everything the profiler saw* (all calls, all samples, all timesteps).
Divide by ``Profile.samples`` for per-sample figures. Rates are never stored: they are derived
from the summed numerators and denominators, so profiles of different batches merge exactly.

Memory traffic is counted in *element accesses*, not bits: the width of an element is a property
of the hardware and precision chosen at pricing time, not of what the model did.
"""

from __future__ import annotations

#: Identity of an op site: one row per (module path, op, ordinal of that op within one call of
#: the module). ``site`` is the unique key, e.g. ``blocks.0.attn:matmul#1``.
ID_COLUMNS: dict[str, str] = {
    "site": "unique key 'layer:op#k' (k: k-th op of that name within one call of the module)",
    "layer": "module path (named_modules name; '' for ops run directly in the root forward)",
    "module_type": "class name of the module that ran the op",
    "op": "linear | conv1d | conv2d | conv3d | conv_transpose{1,2,3}d | matmul | sum | mask | "
    "mul | scale | add | batch_norm | layer_norm | softmax | activation | pool | neuron kinds "
    "(lif, if, plif, leaky, neuron)",
    "kind": "synaptic (activation x weight) | attention (activation x activation products and "
    "sums) | neuron | other (element-wise, normalisation, softmax, pooling, means)",
}

#: Summed counts (numbers; merge adds them).
COUNT_COLUMNS: dict[str, str] = {
    "calls": "times this site executed",
    "in_elems": "elements of the activation input (first operand that is not a weight)",
    "in_nnz": "non-zero elements of that input",
    "in2_elems": "elements of the second activation operand (activation x activation ops), else 0",
    "in2_nnz": "non-zero elements of the second activation operand",
    "out_elems": "elements of the output",
    "out_nnz": "non-zero elements of the output (measured for neurons; synaptic outputs are "
    "analog currents and are not scanned)",
    "in_spike_calls": "calls whose input was spikes (binary or small non-negative integers)",
    "in_binary_calls": "calls whose input was binary (every element 0 or 1)",
    "dense_macs": "multiply-accumulates a dense ANN op of this shape does (fvcore convention, "
    "1 per MAC)",
    "macs": "multiplies actually needed: both operands analog (or integer spikes counted as MACs)",
    "acs": "accumulates actually needed, exact on the executed spikes (event-driven count)",
    "acs_rate": "literature estimate of the same: input firing rate x dense_macs, per call "
    "(spike-driven calls only)",
    "elementwise_ops": "element operations of non-synaptic ops (add, mul, BN, softmax, pooling,..)",
    "neuron_updates": "neuron state updates: neurons x timesteps x batch",
    "spikes_out": "spikes emitted by a neuron (an integer spike of value k counts k)",
    "weight_reads": "weight elements fetched: per input event x kernel fan-out (whole kernel, "
    "as event-driven hardware fetches it) for spike inputs; dense_macs for analog inputs",
    "bias_reads": "bias elements read (one per output element when the op has a bias)",
    "spike_reads": "input events read (non-zero spike-operand elements)",
    "state_reads": "membrane-potential / accumulator reads (per synaptic event for spike-driven "
    "ops; per neuron update for neurons)",
    "state_writes": "membrane-potential / accumulator writes (same rule as state_reads)",
    "spike_writes": "output spikes written by neurons",
    # NeuroBench 2.3's conventions (energymodel/neurobench.py reads them; see docs there)
    "nb_acs": "NeuroBench effective ACs: (non-zero input element, weight) pairs of a weight "
    "layer (linear, conv), input binarised, bias excluded, on calls whose input was binary",
    "nb_macs": "NeuroBench effective MACs: the same pairs on calls whose input was not binary "
    "(analog, or integer spikes: each non-zero counts once)",
    "nb_dense": "NeuroBench dense ops: the same pairs with an all-ones input (convolution "
    "padding taps excluded, unlike dense_macs)",
    "state_changes": "neuron updates that changed the membrane state (NeuroBench's "
    "MembraneUpdates); a sample's first update of each neuron always counts",
}

#: Per-site sizes (not multiplied by calls; merge keeps one value).
STATIC_COLUMNS: dict[str, str] = {
    "weight_elems": "elements of the weight tensor (0 when the op has no weight)",
    "bias_elems": "elements of the bias (0 when none)",
    "out_channels": "output channels / features of a synaptic op (0 otherwise)",
    "kernel_elems": "product of the kernel's spatial size (1 for linear/matmul, 0 otherwise)",
    "stride_elems": "product over spatial dims of ceil(kernel / stride) (conv only, else 0)",
    "timesteps": "T of a neuron site when known (multi-step leading dim or the timesteps "
    "argument), else 0",
    "single_step": "1 for a neuron site that ran one timestep per call (its T is then the "
    "number of calls per sample, not the timesteps argument), else 0",
}

#: Derived on read (never stored): name -> (numerator, denominator).
RATE_COLUMNS: dict[str, tuple[str, str]] = {
    "in_rate": ("in_nnz", "in_elems"),
    "in2_rate": ("in2_nnz", "in2_elems"),
    "out_rate": ("out_nnz", "out_elems"),
}

#: Derived categorical: what the input was over all calls.
#: ``binary`` | ``integer`` | ``analog`` | ``mixed`` (some calls spikes, some analog) | ``none``
INPUT_KIND_COLUMN = "in_kind"

KINDS = ("synaptic", "attention", "neuron", "other")

ALL_COLUMNS: list[str] = (
    list(ID_COLUMNS)
    + [INPUT_KIND_COLUMN]
    + list(COUNT_COLUMNS)
    + list(RATE_COLUMNS)
    + list(STATIC_COLUMNS)
)

#: Columns of :meth:`Profile.timesteps` (neuron sites only, summed over samples).
STEP_COLUMNS: dict[str, str] = {
    "site": "neuron site key",
    "layer": "module path",
    "t": "timestep index, 0-based",
    "neuron_updates": "updates at this step",
    "spikes_out": "spikes emitted at this step",
    "rate": "spikes_out / neuron_updates",
}


#: joins the parts of one entry of ``Profile.model_info``'s lists (``layer_edges``: two site keys;
#: ``threshold_ops``, ``weight_only_ops``, ``site_weights``: a name and a number); module names
#: hold no spaces, so the text splits back unambiguously
EDGE_SEP = " -> "
