"""Multilingual phishing cues in message text (English, French, Spanish, German, Portuguese, Italian).

Each cue is a regular expression over *folded* text (`fold`: lowercase, accents stripped, curly
quotes straightened), so one spelling covers "vérifiez" and "verifiez". `find_cues(text)` returns
the cues present with the words that matched. A request for a code or credential is not a cue when
a negation stands just before it or inside it ("never share this code", "ne le communiquez jamais").

Speed: most messages carry none of a cue's words, and a regular expression with a long alternation
costs several microseconds per message even when it finds nothing (Python's `re` cannot skip ahead
to a word boundary). So a cue names the word lists it cannot match without (`requires`), derived
from the same lists its pattern is built from (listed by hand for the three single alternations,
and tested against an example of every alternative), and `find_cues` runs its pattern only when
the message's words meet every one of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CUES", "Cue", "find_cues", "first_words", "fold", "words_of"]


@lru_cache(maxsize=1024)
def fold(text: str) -> str:
    if text.isascii():
        return text.lower()  # NFKD leaves ASCII as it is
    text = text.replace("’", "'").replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


_TOKEN = re.compile(r"\w+")


@lru_cache(maxsize=1024)
def words_of(folded: str) -> frozenset[str]:
    """The words of a folded text, as `\\b` in the cue patterns sees them."""
    return frozenset(_TOKEN.findall(folded))


def first_words(phrases: tuple[str, ...]) -> frozenset[str]:
    """The first word of each phrase: a phrase matched as `\\b<phrase>` starts with a whole word."""
    return frozenset(_TOKEN.findall(p)[0] for p in phrases)


def _alt(*words: str) -> str:
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"


# Verbs asking the reader to hand something over.
_ASK_WORDS = (
    # en
    "reply", "respond", "send", "give", "tell", "share", "provide", "enter", "re-enter", "confirm", "verify",
    "update", "submit", "type", "read out", "validate", "input", "sign in", "log in", "login",
    # fr
    "repondez", "repondre", "envoyez", "envoyer", "communiquez", "communiquer", "communiquez-moi", "donnez",
    "transmettez", "saisissez", "saisir", "renseignez", "confirmez", "confirmer", "verifiez", "verifier",
    "mettez a jour", "mettre a jour", "indiquez", "entrez", "validez", "connectez-vous",
    # es
    "responda", "responde", "envie", "envia", "enviar", "facilite", "facilita", "digame", "dime", "indique",
    "indica", "introduzca", "introduce", "introducir", "confirme", "confirma", "confirmar", "verifique",
    "verifica", "actualice", "actualiza", "actualizar", "comparta", "comparte", "valide", "inicie sesion",
    # de
    "antworten", "senden", "schicken", "nennen", "teilen", "geben", "eingeben", "bestatigen", "bestatige",
    "verifizieren", "verifiziere", "aktualisieren", "aktualisiere", "ubermitteln", "mitteilen", "hinterlegen",
    "melden sie sich an",
    # pt
    "informe", "diga", "partilhe", "compartilhe", "introduza", "insira", "digite", "atualize", "atualizar",
    "forneca", "entre",
    # it
    "rispondi", "invia", "inviare", "comunica", "comunicami", "dimmi", "inserisci", "inserire", "conferma",
    "confermare", "verificare", "aggiorna", "aggiornare", "fornisci", "condividi", "accedi",
)
_ASK = _alt(*_ASK_WORDS)

# Codes, credentials and payment card or bank details.
_SECRET_WORDS = (
    # en
    "code", "passcode", "password", "passwords", "pin", "otp", "cvv", "cvc", "security code", "login details",
    "credentials", "card details", "card number", "card", "bank details", "banking details", "account details",
    "billing information", "billing details", "billing info", "payment details", "payment information",
    "payment info", "payment method", "identity", "sort code",
    # fr
    "mot de passe", "identifiant", "identifiants", "coordonnees bancaires", "carte bancaire", "carte",
    "informations bancaires", "informations de paiement", "moyen de paiement", "rib", "identite",
    "numero de carte", "cryptogramme",
    # es
    "codigo", "contrasena", "clave", "claves", "datos bancarios", "datos de su tarjeta", "datos de tu tarjeta",
    "datos de pago", "datos de facturacion", "tarjeta", "numero de tarjeta", "identidad", "informacion de facturacion",
    # de
    "passwort", "kennwort", "tan", "zugangsdaten", "kartendaten", "kreditkarte", "kreditkartendaten",
    "bankdaten", "iban", "identitat", "zahlungsdaten", "zahlungsinformationen", "karte",
    # pt
    "senha", "dados do cartao", "dados do seu cartao", "dados bancarios", "cartao", "numero do cartao",
    "numero do seu cartao", "identidade", "dados de pagamento", "informacoes de pagamento", "metodo de pagamento",
    # it
    "codice", "dati della carta", "dati della tua carta", "dati bancari", "carta di credito", "carta",
    "numero della carta", "numero della tua carta", "identita", "informazioni di pagamento", "metodo di pagamento",
)
_SECRET = _alt(*_SECRET_WORDS)

# Personal details that delivery and account scams ask to "confirm" or "update".
_DETAILS_WORDS = (
    "details", "information", "info", "address", "personal data", "coordonnees", "informations", "adresse",
    "donnees", "datos", "direccion", "daten", "adresse", "angaben", "dados", "morada", "endereco", "dati",
    "indirizzo", "informazioni",
)
_DETAILS = _alt(*_DETAILS_WORDS)

_NEGATION = re.compile(
    r"\b(?:never|not|don't|dont|do not|no one|nobody|jamais|ne|n'|nunca|no|nadie|nie|niemals|nicht|"
    r"niemandem|keinesfalls|nao|ninguem|non|mai|nessuno)\b")

_PAY_WORDS = ("pay", "paying", "settle", "payer", "reglez", "regler", "payez", "abone", "abonar", "pague", "pagar",
            "paga", "pagare", "paghi", "zahlen", "bezahlen", "begleichen", "liquidar", "abona", "pagando")
_PAY = _alt(*_PAY_WORDS)
_FEE_WORDS = (
    "fee", "fees", "charge", "duty", "duties", "customs", "fine", "penalty", "toll", "tax", "frais", "taxe",
    "droits", "amende", "tasa", "tasas", "gastos", "arancel", "aranceles", "multa", "recargo", "gebuhr",
    "gebuhren", "zustellgebuhr", "abgaben", "einfuhrabgaben", "bussgeld", "strafe", "taxa", "tributos",
    "portes", "custos", "dazi", "dazio", "spese", "tassa", "sanzione", "port", "handling",
)
_FEE = _alt(*_FEE_WORDS)

_REFUND_WORDS = ("refund", "rebate", "remboursement", "reembolso", "devolucion", "ruckerstattung",
               "steuerruckerstattung", "erstattung", "gutschrift", "rimborso", "restituicao")
_REFUND = _alt(*_REFUND_WORDS)
_OWED_WORDS = ("eligible", "entitled", "owed", "pending", "awaiting", "claim", "droit", "attend", "en attente",
             "derecho", "pendiente", "solicitela", "anspruch", "erhalten", "direito", "tem um", "diritto",
             "richiedilo", "in attesa", "receive", "recevoir", "recibirlo", "receber", "riceverlo")
_OWED = _alt(*_OWED_WORDS)

_NEW_NUMBER_WORDS = (
    "new number", "my new number", "lost my phone", "dropped my phone", "broke my phone", "nouveau numero",
    "casse mon telephone", "perdu mon telephone", "numero nuevo", "nuevo numero", "se me ha roto el movil",
    "neue nummer", "handy ist kaputt", "numero novo", "troquei de numero", "perdi o telemovel",
    "perdi o celular", "nuovo numero", "rotto il telefono",
)
_NEW_NUMBER = _alt(*_NEW_NUMBER_WORDS)
_MONEY = _alt("send me", "transfer", "envoyer", "virement", "bizum", "transferencia", "uberweisen", "pix",
              "bonifico", "money", "argent", "dinero", "geld", "dinheiro", "soldi", "£", "€", "eur", "\\$", "r\\$")

# "the code you will receive": a person asking for a code the reader has yet to get (or just got).
_INCOMING_WORDS = (
    "you will receive", "you'll receive", "you are about to receive", "you have just received", "you just received",
    "que vous allez recevoir", "que vous avez recu", "que vous venez de recevoir",
    "que le acaba de llegar", "que te acaba de llegar", "que acaba de recibir", "que acabas de recibir",
    "que va a recibir", "que vas a recibir", "den sie gleich", "den sie soeben", "den sie gerade",
    "den du gleich", "que voce vai receber", "que vai receber", "que recebeu", "que acabou de receber",
    "che ti arrivera", "che ti e arrivato", "che hai appena ricevuto", "che riceverai",
)
_INCOMING = _alt(*_INCOMING_WORDS)
_NEED_WORDS = ("i need", "we need", "j'ai besoin", "nous avons besoin", "necesito", "necesitamos", "ich brauche",
             "wir brauchen", "preciso", "precisamos", "mi serve", "ci serve", "ho bisogno")
_NEED = _alt(*_NEED_WORDS)
# A sum of money: "4,90 EUR", "£1.99", "R$ 9,90", "5 €".
_AMOUNT = r"(?:(?:[£$€]|r\$|eur) ?\d+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})? ?(?:eur|euros?|€|usd|gbp|reais))(?![\w])"

_CLAUSE = r"[^.!?\n]"


def _near(a: str, b: str, gap: int) -> str:
    return rf"\b{a}\b{_CLAUSE}{{0,{gap}}}?\b{b}(?![\w])"


@dataclass(frozen=True)
class Cue:
    code: str
    pattern: re.Pattern[str]
    negatable: bool = False
    # Word sets the pattern cannot match without: a message needs a word of each.
    requires: tuple[frozenset[str], ...] = ()


# The cues below are single alternations, not built from word lists: what each needs is a word
# every match of an alternative contains, its most telling one ("won" of "you have won", "hold" of
# "on hold"), so that common words ("you", "has") do not wake the pattern. "in" and "en" stand
# for "in 24h" and "en 24h", whose other words are one token with their number.
_PRIZE_REQUIRES = frozenset({
    "congratulations", "won", "selected", "winner", "prize", "reward", "felicitations", "gagne", "gagnez", "cadeau",
    "enhorabuena", "felicidades", "ganado", "ganador", "premio", "gluckwunsch", "gewonnen", "gewinnspiel", "parabens",
    "ganhou", "premiado", "complimenti", "vinto"})
_URGENCY_REQUIRES = frozenset({
    "within", "next", "immediately", "urgent", "urgently", "away", "final", "notice", "warning", "expire", "expires",
    "sous", "dans", "immediatement", "dernier", "relance", "aujourd", "en", "horas", "inmediatamente", "urgente",
    "aviso", "inmediato", "caduca", "innerhalb", "sofort", "dringend", "mahnung", "lauft", "umgehend", "frist",
    "imediatamente", "entro", "subito", "avviso", "scade", "in"})
_THREAT_REQUIRES = frozenset({
    "suspended", "locked", "blocked", "limited", "disabled", "deactivated", "restricted", "hold", "closed", "frozen",
    "suspendu", "suspendue", "bloque", "bloquee", "limite", "desactive", "restreint", "resilie", "suspendida",
    "suspendido", "bloqueada", "bloqueado", "limitada", "desactivada", "cancelada", "restringida", "gesperrt",
    "eingeschrankt", "deaktiviert", "pausiert", "gekundigt", "suspensa", "limitado", "desativada", "desativado",
    "irregular", "sospeso", "sospesa", "bloccato", "bloccata", "limitato", "disattivato", "scade",
    "avoid", "eviter", "evitar", "vermeiden", "evitare", "sperrung", "blockierung"})

CUES: tuple[Cue, ...] = (
    Cue("credential_request", re.compile(f"{_near(_ASK, _SECRET, 40)}|{_near(_SECRET, _ASK, 25)}"), negatable=True,
        requires=(first_words(_ASK_WORDS), first_words(_SECRET_WORDS))),
    Cue("details_request", re.compile(_near(_ASK, _DETAILS, 30)), negatable=True,
        requires=(first_words(_ASK_WORDS), first_words(_DETAILS_WORDS))),
    Cue("code_relay_request", re.compile(
        rf"\b(?:code|codigo|codice|tan|otp)\b{_CLAUSE}{{0,40}}?\b(?:{_INCOMING})\b"
        rf"|\b(?:{_NEED})\b{_CLAUSE}{{0,20}}?\b(?:the|le|el|den|o|il) (?:code|codigo|codice)\b"),
        requires=(frozenset({"code", "codigo", "codice", "tan", "otp"}),)),
    Cue("payment_request", re.compile(
        f"{_near(_PAY, _FEE, 40)}|{_near(_FEE, _PAY, 30)}|\\b{_PAY}\\b{_CLAUSE}{{0,12}}?{_AMOUNT}"),
        requires=(first_words(_PAY_WORDS),)),
    Cue("refund_lure", re.compile(f"{_near(_REFUND, _OWED, 60)}|{_near(_OWED, _REFUND, 60)}"),
        requires=(first_words(_REFUND_WORDS), first_words(_OWED_WORDS))),
    Cue("prize_lure", requires=(_PRIZE_REQUIRES,), pattern=re.compile(
        r"\b(?:congratulations|you(?:'ve| have) won|you have been selected|winner|prize|reward|felicitations|"
        r"vous avez gagne|gagnez|cadeau|enhorabuena|felicidades|has ganado|ganador|premio|gluckwunsch|"
        r"gewonnen|gewinnspiel|parabens|ganhou|premiado|complimenti|hai vinto)\b")),
    Cue("impersonation_money_request", re.compile(
        rf"(?:\b{_NEW_NUMBER}\b.{{0,200}}?{_MONEY})|(?:{_MONEY}.{{0,200}}?\b{_NEW_NUMBER}\b)", re.DOTALL),
        requires=(first_words(_NEW_NUMBER_WORDS),)),
    Cue("urgency", requires=(_URGENCY_REQUIRES,), pattern=re.compile(
        r"\b(?:within \d+ ?(?:hours?|hrs?|h|days?)|in the next \d+ ?(?:hours?|h)|immediately|urgent(?:ly)?|"
        r"right away|final (?:notice|warning|reminder)|last (?:notice|warning)|expires? today|"
        r"sous \d+ ?h(?:eures)?|dans les \d+ ?h(?:eures)?|immediatement|dernier avis|derniere relance|"
        r"expire aujourd'hui|en (?:las )?(?:proximas )?\d+ ?(?:h|horas)|antes de \d+ horas|inmediatamente|"
        r"urgente|ultimo aviso|de inmediato|caduca hoy|innerhalb von \d+ (?:stunden|tagen)|sofort|dringend|"
        r"letzte mahnung|lauft heute ab|umgehend|frist: ?\d+|em ate \d+ horas|nas proximas \d+ horas|"
        r"imediatamente|entro \d+ ore|subito|ultimo avviso|scade oggi|in \d+ ?(?:hours|hrs|h))\b")),
    Cue("account_threat", requires=(_THREAT_REQUIRES,), pattern=re.compile(
        rf"\b(?:account|card|line|access|membership|subscription|online banking|apple id|compte|carte|ligne|acces|"
        rf"abonnement|cuenta|tarjeta|acceso|linea|servicio|konto|karte|zugang|online-banking|anschluss|abo|"
        rf"conta|cartao|acesso|linha|chave pix|cpf|conto|carta|accesso|linea|abbonamento|pratica)\b{_CLAUSE}{{0,40}}?"
        r"\b(?:suspended|locked|blocked|limited|disabled|deactivated|restricted|on hold|closed|frozen|"
        r"suspendu|suspendue|bloque|bloquee|limite|desactive|restreint|resilie|suspendida|suspendido|"
        r"bloqueada|bloqueado|limitada|desactivada|cancelada|restringida|gesperrt|eingeschrankt|deaktiviert|"
        r"pausiert|gekundigt|suspensa|limitado|desativada|desativado|irregular|sospeso|sospesa|bloccato|"
        r"bloccata|limitato|disattivato|scade)\b"
        r"|\b(?:avoid|eviter|evitar|vermeiden|evitare)\b.{0,30}?\b(?:suspension|disconnection|blocking|blocage|"
        r"suspension|bloqueo|suspensao|bloqueio|sospensione|blocco|coupure|corte)\b"
        r"|\b(?:sperrung|blockierung)\b")),
)


def _negated(text: str, start: int, end: int) -> bool:
    return bool(_NEGATION.search(text, max(0, start - 25), end))


def find_cues(text: str) -> dict[str, str]:
    """Cue code -> the first matching words, for the cues present in `text`."""
    folded = fold(text)
    words = words_of(folded)
    found: dict[str, str] = {}
    for cue in CUES:
        if any(words.isdisjoint(needed) for needed in cue.requires):
            continue
        for m in cue.pattern.finditer(folded):
            if cue.negatable and _negated(folded, m.start(), m.end()):
                continue
            found[cue.code] = m.group(0).strip()
            break
    return found
