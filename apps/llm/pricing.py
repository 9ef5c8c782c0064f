"""What model calls cost, from their token counts and the model's prices per million tokens (both optional).

A cost is None when a price it needs is unknown: no cost is ever shown as 0 for want of a price.
"""

from .models import Model

MILLION = 1_000_000


def tokens_cost(model: Model, input_tokens: float, output_tokens: float) -> float | None:
    """The cost of these tokens at the model's prices; None when tokens of a kind have no price."""
    parts = []
    for tokens, price in ((input_tokens, model.input_price_per_million),
                          (output_tokens, model.output_price_per_million)):
        if tokens:
            if price is None:
                return None
            parts.append(tokens * price / MILLION)
    if model.input_price_per_million is None and model.output_price_per_million is None:
        return None
    return sum(parts)


def cost_per_thousand(model: Model, mean_input_tokens: float, mean_output_tokens: float) -> float | None:
    """The cost of 1,000 answers of the given mean token counts."""
    cost = tokens_cost(model, mean_input_tokens, mean_output_tokens)
    return None if cost is None else 1000 * cost


def training_cost(model: Model, training_tokens: int) -> float | None:
    """An estimate of a fine-tune's cost: its training tokens at the base model's input price (a provider's
    training price is not known here)."""
    if model.input_price_per_million is None:
        return None
    return training_tokens * model.input_price_per_million / MILLION
