/**
 * The training loss of the paper: generalized Dice (on sigmoid probabilities) plus binary
 * cross-entropy (on logits), both over the three region channels WT, TC, ET.
 */
import { add } from '../kernels/broadcast.js';
import { bceWithLogits, generalizedDiceLoss, type DiceWeightType } from '../kernels/losses.js';
import { scale, sigmoid } from '../kernels/unary.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export interface SegLossConfig {
  diceWeight: number;
  bceWeight: number;
  /** MONAI's w_type of the generalized Dice loss. */
  diceWType: DiceWeightType;
  /** MONAI's smooth_nr = smooth_dr. */
  smooth: number;
}

export const DEFAULT_SEG_LOSS: Readonly<SegLossConfig> = { diceWeight: 1, bceWeight: 1, diceWType: 'square', smooth: 1e-5 };

export interface SegLoss {
  /** diceWeight·dice + bceWeight·bce (0-d); backward from this one. */
  loss: Tensor;
  /** The unweighted terms (0-d), for logs. */
  dice: Tensor;
  bce: Tensor;
}

/** Logits and region targets [N, 3, D, H, W] → the combined loss and its two terms. */
export function segmentationLoss(logits: Tensor, target: Tensor, cfg: SegLossConfig = DEFAULT_SEG_LOSS): SegLoss {
  return tidy(() => {
    const dice = generalizedDiceLoss(sigmoid(logits), target, { wType: cfg.diceWType, smooth: cfg.smooth });
    const bce = bceWithLogits(logits, target);
    const wd = cfg.diceWeight === 1 ? dice : scale(dice, cfg.diceWeight);
    const wb = cfg.bceWeight === 1 ? bce : scale(bce, cfg.bceWeight);
    return { loss: add(wd, wb), dice, bce };
  });
}
