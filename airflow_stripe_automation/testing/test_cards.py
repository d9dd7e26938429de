"""Stripe's test payment methods (``pm_card_*``): the card each one stands for and what it does.

Behaviours, as in Stripe's testing docs:

- ``succeed``: charges succeed.
- ``decline``: the card is declined on attach (Stripe validates a card when it is attached to a
  customer) and on every charge, with the code/decline code given.
- ``decline_charges``: attaching succeeds, every charge is declined (``pm_card_chargeCustomerFail``,
  Stripe's "decline after attaching" card, the one to use for dunning tests).
- ``authenticate``: 3D Secure required: on-session confirmation leaves the PaymentIntent
  ``requires_action``; off-session it fails with ``authentication_required``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class

    brand: str
    last4: str
    behaviour: str = "succeed"
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    funding: str = "credit"
    country: str = "US"


_DECLINED = "Your card was declined."

CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_mastercard_debit": TestCard("mastercard", "8210", funding="debit"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_discover": TestCard("discover", "1117"),
    "pm_card_chargeDeclined": TestCard("visa", "0002", "decline", "card_declined", "generic_decline", _DECLINED),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", "decline", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedLostCard": TestCard("visa", "9987", "decline", "card_declined", "lost_card", _DECLINED),
    "pm_card_chargeDeclinedStolenCard": TestCard("visa", "9979", "decline", "card_declined", "stolen_card", _DECLINED),
    "pm_card_chargeDeclinedFraudulent": TestCard("visa", "0019", "decline", "card_declined", "fraudulent", _DECLINED),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "decline", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", "decline", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        "decline",
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_card_chargeCustomerFail": TestCard(
        "visa", "0341", "decline_charges", "card_declined", "generic_decline", _DECLINED
    ),
    "pm_card_authenticationRequired": TestCard("visa", "3184", "authenticate"),
    "pm_card_authenticationRequiredOnSetup": TestCard("visa", "3155", "authenticate"),
}

AUTHENTICATION_MESSAGE = "Your card was declined. This transaction requires authentication."
