import { HnfnetError, ShapeError } from './errors.js';
import { fmt, sameShape } from './shape.js';
import { keep, tidy } from './scope.js';
import { accumulate, GradNode, noGrad, ones, Tensor, zeros } from './tensor.js';

export interface BackwardOptions {
  /** Keep saved tensors so backward can run through the graph again. */
  retainGraph?: boolean;
}

/**
 * Reverse-mode differentiation from `root`. Gradients of leaves that require them are
 * accumulated into `.grad`; every intermediate gradient is freed as soon as the node
 * that consumes it has run, and saved activations as soon as their node is done.
 */
export function backward(root: Tensor, upstream?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new HnfnetError(`backward(): ${root} does not require grad (no input of its graph has requiresGrad)`);
  if (upstream && !sameShape(upstream.shape, root.shape)) {
    throw new ShapeError(`backward(): upstream gradient ${fmt(upstream.shape)} does not match the output ${fmt(root.shape)}`);
  }
  if (!upstream && root.size !== 1) {
    throw new HnfnetError(`backward(): output ${fmt(root.shape)} is not a scalar; pass an upstream gradient`);
  }
  noGrad(() => {
    const seed = upstream ? upstream.detach() : ones(root.shape, { device: root.device });
    keep(seed);
    if (!root.gradFn) {
      accumulateLeaf(root, seed);
      return;
    }
    run([{ node: root.gradFn, index: root.outputIndex, grad: seed }], !!opts.retainGraph);
  });
}

/**
 * Backward from several outputs at once, `grads[i]` the gradient of `outputs[i]` (owned by
 * this call: each is disposed). Outputs that do not require grad are skipped; an output that
 * is a leaf accumulates its gradient directly. Call it with gradients off (inside backward).
 * checkpoint()'s backward runs its recomputed graph with it.
 */
export function backwardFrom(outputs: readonly Tensor[], grads: readonly Tensor[]): void {
  outputs.forEach((o, i) => {
    if (!sameShape(grads[i]!.shape, o.shape)) throw new ShapeError(`backward: gradient ${fmt(grads[i]!.shape)} does not match the output ${fmt(o.shape)}`);
  });
  const seeds: Seed[] = [];
  outputs.forEach((o, i) => {
    const g = keep(grads[i]!);
    if (!o.requiresGrad) g.dispose();
    else if (o.gradFn) seeds.push({ node: o.gradFn, index: o.outputIndex, grad: g });
    else accumulateLeaf(o, g);
  });
  if (seeds.length) run(seeds, false);
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.isDisposed) {
    g.dispose();
    return;
  }
  const grad = sameShape(g.shape, leaf.shape) ? g : keep(g.view(leaf.shape));
  if (grad !== g) g.dispose();
  if (leaf.grad) {
    const sum = keep(accumulate(leaf.grad, grad));
    leaf.grad.dispose();
    grad.dispose();
    leaf.grad = sum;
  } else leaf.grad = grad;
}

interface Seed {
  node: GradNode;
  index: number;
  grad: Tensor;
}

function run(seeds: readonly Seed[], retain: boolean): void {
  // Reverse post-order of a depth-first search from every root: a node runs after all its consumers.
  const order: GradNode[] = [];
  const visited = new Set<GradNode>();
  const stack: [GradNode, boolean][] = seeds.map((s): [GradNode, boolean] => [s.node, false]).reverse();
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) {
      order.push(n);
      continue;
    }
    if (visited.has(n)) continue;
    visited.add(n);
    if (n.consumed || !n.backwardFn) {
      throw new HnfnetError(`backward(): the graph through "${n.name}" was already freed by an earlier backward (pass {retainGraph: true} to run twice)`);
    }
    stack.push([n, true]);
    for (const e of n.edges) {
      if (e.node && !visited.has(e.node)) stack.push([e.node, false]);
    }
  }
  order.reverse();

  const grads = new Map<GradNode, (Tensor | null)[]>();
  for (const { node, index, grad } of seeds) addGrad(grads, node, index, grad);
  const device = seeds[0]!.grad.device;

  for (const node of order) {
    const gIn = grads.get(node) ?? [];
    grads.delete(node);
    const gradList: Tensor[] = node.outputShapes.map((shape, i) => gIn[i] ?? keep(zeros(shape, { device })));
    const fn = node.backwardFn!;
    const saved = node.saved;
    const results = tidy(() => fn(gradList, saved));
    // Each result becomes an owned handle; one tensor returned twice gets a second view.
    const owned = new Set<Tensor>();
    const outs = results.map((r) => {
      if (!r) return null;
      const h = owned.has(r) || gradList.includes(r) ? keep(r.detach()) : keep(r);
      owned.add(h);
      return h;
    });
    for (const g of gradList) g.dispose();
    if (!retain) {
      node.consumed = true;
      node.releaseSaved();
    }
    node.edges.forEach((e, i) => {
      const g = outs[i];
      if (!g) return;
      if (!sameShape(g.shape, e.shape)) {
        const r = keep(g.view(e.shape));
        g.dispose();
        outs[i] = r;
      }
      const gg = outs[i]!;
      if (e.node) addGrad(grads, e.node, e.outputIndex, gg);
      else if (e.leaf) accumulateLeaf(e.leaf, gg);
      else gg.dispose();
    });
  }
  for (const list of grads.values()) for (const g of list) g?.dispose();
}

/** Adds g (owned, kept) to the pending gradient of a node's output. */
function addGrad(grads: Map<GradNode, (Tensor | null)[]>, node: GradNode, index: number, g: Tensor): void {
  let slot = grads.get(node);
  if (!slot) grads.set(node, (slot = new Array<Tensor | null>(node.outputShapes.length).fill(null)));
  const prev = slot[index];
  if (prev) {
    slot[index] = keep(accumulate(prev, g));
    prev.dispose();
    g.dispose();
  } else slot[index] = g;
}
