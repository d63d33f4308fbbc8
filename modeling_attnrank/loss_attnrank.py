"""Next-item training losses of AttnRank.

Every loss takes the hidden states of the non-padding positions only, `hidden` (N, C), their target item indices
`targets` (N,) in 1..num_items, and the item table `item_weight` (num_items + 1, C) whose row 0 is padding.

- `full_cross_entropy`: softmax over the whole catalogue (SASRec+ of Klenitskiy & Vasilev, RecSys 2023). Computed in
  chunks of positions, fused with its gradient, so memory is chunk x catalogue, not batch x positions x catalogue.
- `sampled_bce`: binary cross-entropy with uniformly sampled negatives per position (the original SASRec).
- `sampled_softmax`: softmax over the target and negatives shared by the batch, with logQ correction
  (Yi et al., RecSys 2019), so it estimates the full softmax without its cost.
- `gbce`: generalised binary cross-entropy of gSASRec (Petrov & Macdonald, RecSys 2023) with shared negatives.

Negatives are drawn uniformly from 1..num_items; a negative equal to the position's target is masked out.

This file imports only torch: it travels to the Hub as remote code.
"""


import torch
import torch.nn.functional as F


LOGITS_PER_CHUNK = 1 << 22  # 16 MB of fp32 logits: a chunk stays cache-friendly (2x faster than one big pass)
MIN_CHUNK_ROWS = 64


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softmax(hidden @ weight.T), fused with its gradient, `chunk_size` rows at a time.

    The forward pass of each chunk computes the logits once, turns them into softmax probabilities in place and
    immediately takes the two gradient matmuls from them, so no (positions x catalogue) tensor outlives its chunk
    and nothing is recomputed or zero-filled in backward (the same idea as fused linear-cross-entropy kernels).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size):
        num_rows = hidden.shape[0]
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        grad_hidden = torch.empty_like(hidden) if needs_grad else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if needs_grad else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, num_rows, chunk_size):
            rows = hidden[start : start + chunk_size]
            chunk_targets = targets[start : start + chunk_size]
            logits = (rows @ weight.T).float()  # (n, V)
            target_logits = logits.gather(1, chunk_targets[:, None])[:, 0]
            row_max = logits.amax(dim=1, keepdim=True)
            logits.sub_(row_max).exp_()
            row_sum = logits.sum(dim=1, keepdim=True)
            total += (row_max[:, 0] + row_sum[:, 0].log() - target_logits).sum()
            if needs_grad:
                logits.div_(row_sum)  # softmax probabilities
                logits[torch.arange(len(chunk_targets), device=logits.device), chunk_targets] -= 1.0
                grad_hidden[start : start + chunk_size] = (logits @ weight.float()).to(hidden.dtype)
                grad_weight.addmm_(logits.T, rows.float())
        if needs_grad:
            ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.num_rows = num_rows
        return total / num_rows

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_output / ctx.num_rows
        return (grad_hidden * scale).to(grad_hidden.dtype), (grad_weight * scale), None, None


def full_cross_entropy(hidden, item_weight, targets, chunk_size=0):
    """Mean softmax cross-entropy over the whole catalogue (padding excluded), `chunk_size` positions at a time
    (0 = as many as keep one chunk's logits near LOGITS_PER_CHUNK)."""
    num_items = item_weight.shape[0] - 1
    if chunk_size <= 0:
        chunk_size = max(MIN_CHUNK_ROWS, LOGITS_PER_CHUNK // num_items)
    weight = item_weight[1:]  # padding is never a class
    loss = _LinearCrossEntropy.apply(hidden, weight, targets - 1, chunk_size)
    return loss


def sample_negatives(num_items, shape, device):
    """Uniform negatives in 1..num_items (the padding index 0 is never drawn)."""
    return torch.randint(1, num_items + 1, shape, device=device)


def sampled_bce(hidden, item_weight, targets, num_negatives):
    """SASRec's loss: -log sigmoid(s+) - sum over negatives of log(1 - sigmoid(s-)), averaged over positions."""
    num_items = item_weight.shape[0] - 1
    negatives = sample_negatives(num_items, (targets.shape[0], num_negatives), hidden.device)  # (N, K)
    positive_scores = (hidden * item_weight[targets]).sum(-1)  # (N,)
    negative_scores = torch.einsum("nc,nkc->nk", hidden, item_weight[negatives])  # (N, K)
    valid = (negatives != targets[:, None]).float()
    loss = F.softplus(-positive_scores.float()) + (F.softplus(negative_scores.float()) * valid).sum(-1)
    return loss.mean()


def sampled_softmax(hidden, item_weight, targets, num_negatives, log_q=None):
    """Softmax over [target, shared negatives] with logQ correction.

    `log_q` (num_items + 1,) is the log-probability with which each item is drawn as a negative; None means uniform
    sampling, whose correction is a constant that cancels out of the softmax.
    """
    num_items = item_weight.shape[0] - 1
    negatives = sample_negatives(num_items, (num_negatives,), hidden.device)  # (K,)
    positive_scores = (hidden * item_weight[targets]).sum(-1, keepdim=True)  # (N, 1)
    negative_scores = hidden @ item_weight[negatives].T  # (N, K)
    if log_q is not None:
        positive_scores = positive_scores - log_q[targets][:, None]
        negative_scores = negative_scores - log_q[negatives][None, :]
    negative_scores = negative_scores.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive_scores, negative_scores], dim=-1).float()
    return -F.log_softmax(logits, dim=-1)[:, 0].mean()


def gbce(hidden, item_weight, labels, labelled, num_negatives, t):
    """gSASRec's gBCE: the positive term is raised to the power beta so that sigmoid scores stay calibrated.

    beta = alpha * (t * (1 - 1/alpha) + 1/alpha) with alpha = num_negatives / (num_items - 1), the negative
    sampling rate; t = 0 gives plain BCE, t = 1 full calibration. As in gSASRec, negatives are drawn per sequence:
    each row of `hidden` (B, T, C) gets its own `num_negatives` items, shared by its positions (one (B, T, K) score
    tensor). `labels` (B, T) are the targets, `labelled` (B, T) the positions that count.
    """
    num_items = item_weight.shape[0] - 1
    alpha = num_negatives / max(num_items - 1, 1)
    beta = alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)
    negatives = sample_negatives(num_items, (hidden.shape[0], num_negatives), hidden.device)  # (B, K)
    negative_scores = torch.bmm(hidden, item_weight[negatives].transpose(1, 2))[labelled]  # (N, K)
    valid = (negatives[:, None, :] != labels[:, :, None])[labelled].float()  # a negative equal to the target
    hidden, targets = hidden[labelled], labels[labelled]
    positive_scores = (hidden * item_weight[targets]).sum(-1)  # (N,)
    # -log(sigmoid(s+) ** beta) = beta * softplus(-s+)
    loss = beta * F.softplus(-positive_scores.float()) + (F.softplus(negative_scores.float()) * valid).sum(-1)
    return loss.mean()


def next_item_loss(config, hidden, item_weight, labels, log_q=None):
    """Dispatch on `config.loss_type`. `hidden` (B, T, C) and `labels` (B, T); positions whose label is -100 or
    padding take no loss."""
    labelled = (labels != -100) & (labels != config.pad_token_id)
    if config.loss_type == "gbce":
        return gbce(hidden, item_weight, labels, labelled, config.num_negatives, config.gbce_t)
    hidden, targets = hidden[labelled], labels[labelled]  # (N, C), (N,)
    if config.loss_type == "ce":
        return full_cross_entropy(hidden, item_weight, targets, config.loss_chunk_size)
    if config.loss_type == "bce":
        return sampled_bce(hidden, item_weight, targets, config.num_negatives)
    if config.loss_type == "sampled_softmax":
        return sampled_softmax(hidden, item_weight, targets, config.num_negatives, log_q)
    raise ValueError(f"Unknown loss_type {config.loss_type!r}.")


__all__ = ["full_cross_entropy", "sampled_bce", "sampled_softmax", "gbce", "next_item_loss"]
