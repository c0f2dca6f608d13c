"""The health-information guard: does a message carry protected health information (PHI)?

Four kinds of finding, over folded text (tidings.policy.safety.cues.fold) in English, French,
Spanish, German, Portuguese and Italian:

    diagnosis     a diagnosis word with a condition ("diagnosed with diabetes", "diagnostic de cancer")
    medication    a named medicine, or a dose with a prescription word ("metformin 500 mg")
    lab_result    a test result with a value or verdict ("HbA1c 7.9%", "tested positive", "charge virale")
    condition     a condition or a specialty tied to the reader: an appointment, "your", a treatment
                  ("your chemotherapy session", "rendez-vous en oncologie", "sua consulta de psiquiatria")

A reminder that only names a doctor, a pharmacy or "your prescription is ready" is not PHI here:
it tells no one what the reader suffers from.

Like the phishing cues, each pattern runs only when the message has a word of every list it
cannot match without (`_REQUIRES`).
"""

from __future__ import annotations

import re

from tidings.policy.safety.cues import first_words, fold, words_of

__all__ = ["PHI_KINDS", "find_phi"]

PHI_KINDS = ("diagnosis", "medication", "lab_result", "condition")


def _alt(*words: str) -> str:
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"


_CONDITIONS_WORDS = (
    # language-neutral or near enough
    "hiv", "vih", "sida", "hpv", "std", "sti", "ets", "dst", "covid-19 positive",
    "alzheimer", "parkinson", "leukemia", "leukaemia", "leucemie", "leucemia", "leukamie", "melanoma", "melanome",
    "lymphoma", "lymphome", "linfoma", "chlamydia", "clamidia", "gonorrhoea", "gonorrhea", "gonorrhee",
    "gonorrea", "gonorrhoe", "gonorreia", "syphilis", "sifilis", "sifilide", "herpes", "tuberculosis",
    "tuberculose", "tuberkulose", "tubercolosi", "epilepsy", "epilepsie", "epilepsia", "epilessia",
    "schizophrenia", "schizophrenie", "esquizofrenia", "schizophrenie", "schizofrenia", "bipolar", "bipolaire",
    "bipolare", "dementia", "demence", "demencia", "demenz", "demenza",
    # en
    "diabetes", "cancer", "tumour", "tumor", "hepatitis", "depression", "anxiety disorder", "eating disorder",
    "anorexia", "bulimia", "pregnancy", "miscarriage", "infertility", "multiple sclerosis", "heart failure",
    "kidney failure", "cirrhosis", "addiction", "alcoholism", "substance use",
    # fr
    "diabete", "hepatite", "grossesse", "fausse couche", "infertilite", "sclerose en plaques",
    "insuffisance cardiaque", "insuffisance renale", "addiction", "alcoolisme", "trouble bipolaire",
    # es
    "cancer", "hepatitis", "depresion", "embarazo", "aborto", "infertilidad", "esclerosis multiple",
    "insuficiencia renal", "adiccion", "alcoholismo", "trastorno",
    # de
    "krebs", "tumor", "hepatitis", "depression", "schwangerschaft", "fehlgeburt", "unfruchtbarkeit",
    "multiple sklerose", "herzinsuffizienz", "niereninsuffizienz", "suchterkrankung", "alkoholismus", "zuckerkrankheit",
    # pt
    "diabetes", "cancro", "hepatite", "depressao", "gravidez", "aborto", "infertilidade", "esclerose multipla",
    "insuficiencia renal", "alcoolismo",
    # it
    "diabete", "cancro", "tumore", "epatite", "depressione", "gravidanza", "aborto", "infertilita",
    "sclerosi multipla", "insufficienza renale", "alcolismo",
)
_CONDITIONS = _alt(*_CONDITIONS_WORDS)

# Specialties and treatments that reveal the condition when tied to the reader.
_SPECIALTIES_WORDS = (
    "oncology", "oncologie", "oncologia", "onkologie", "chemotherapy", "chemo", "chimiotherapie", "chimio",
    "quimioterapia", "chemotherapie", "chemioterapia", "radiotherapy", "radiotherapie", "radioterapia",
    "strahlentherapie", "dialysis", "dialyse", "dialisis", "dialise", "dialisi", "psychiatry", "psychiatric",
    "psychiatrie", "psychiatrique", "psiquiatria", "psiquiatrico", "psychiatrische", "psichiatria",
    "psichiatrico", "sexual health clinic", "gum clinic", "planning familial", "ivg", "ivf", "fiv",
    "fertility clinic", "fertility treatment", "methadone", "methadon", "metadona", "metadone",
    "rehab", "detox", "hiv clinic", "prep clinic", "mental health team", "sante mentale", "salud mental",
    "saude mental", "salute mentale", "antenatal", "prenatal", "prenatale", "pre-natal",
)
_SPECIALTIES = _alt(*_SPECIALTIES_WORDS)

_MEDICINES_WORDS = (
    "metformin", "metformine", "metformina", "insulin", "insuline", "insulina", "sertraline", "sertralin",
    "sertralina", "fluoxetine", "fluoxetin", "fluoxetina", "citalopram", "escitalopram", "paroxetine",
    "venlafaxine", "mirtazapine", "lithium", "litio", "quetiapine", "quetiapin", "quetiapina", "olanzapine",
    "olanzapin", "olanzapina", "risperidone", "risperidon", "risperidona", "aripiprazole", "methadone",
    "buprenorphine", "subutex", "suboxone", "naltrexone", "truvada", "descovy", "biktarvy",
    "atorvastatin", "atorvastatine", "atorvastatina", "simvastatin", "levothyroxine", "levothyroxin",
    "levotiroxina", "levothyrox", "lisinopril", "ramipril", "amlodipine", "warfarin", "apixaban", "rivaroxaban",
    "oxycodone", "morphine", "tramadol", "codeine", "methotrexate", "tamoxifen", "letrozole", "adalimumab",
    "humira", "ozempic", "semaglutide", "mounjaro", "valproate", "levetiracetam", "lamotrigine",
    "clozapine", "diazepam", "lorazepam", "alprazolam", "zolpidem", "isotretinoin", "misoprostol",
    "mifepristone", "antiretroviral", "antiretroviraux", "antirretroviral", "chemotherapy drugs",
)
_MEDICINES = _alt(*_MEDICINES_WORDS)

_PRESCRIPTION_WORDS = ("prescription", "prescribed", "ordonnance", "prescrit", "receta", "recetado", "rezept",
                     "verschrieben", "receita", "ricetta", "prescritto", "dose", "dosage", "dosis", "dosierung",
                     "dosagem", "dosaggio", "refill", "renouvellement", "repeat")
_PRESCRIPTION = _alt(*_PRESCRIPTION_WORDS)
_DOSE = r"\b\d+(?:[.,]\d+)? ?(?:mg|mcg|µg|ug|ml|iu|ui)\b"

_LAB = re.compile(
    r"\b(?:hba1c|a1c|glycated|glycemie|glucemia|blutzucker|glicemia|glicose|cholesterol|colesterol|"
    r"cholesterin|colesterolo|ldl|hdl|triglycerides?|creatinine|creatinina|kreatinin|egfr|psa|cd4|"
    r"viral load|charge virale|carga viral|viruslast|carica virale|hemoglobin|haemoglobin|hemoglobine|"
    r"hemoglobina|hamoglobin|emoglobina|tsh|inr|ferritin|ferritine)\b[^.!?\n]{0,25}?\d"
    r"|\b\d+(?:[.,]\d+)? ?(?:mmol/l|mg/dl|g/dl|g/l|µmol/l|umol/l|copies/ml|cells/mm3)\b"
    r"|\b(?:tested positive|tested negative|teste positif|testee positive|dio positivo|ha dado positivo|"
    r"positiv getestet|testou positivo|positivo al test)\b"
    r"|\b(?:tests?|results?|resultats?|resultados?|befund|ergebnis(?:se)?|testergebnis|risultat[oi]|esito|exame)\b"
    r"[^.!?\n]{0,30}?\b(?:positive|positif|positiva|positivo|positiv|abnormal|anormal|anormale|auffallig|alterado)\b"
    r"|\b(?:biopsy|biopsie|biopsia|mammogram|mammographie|mamografia|mammographie|smear test|frottis|"
    r"citologia|pap test|pap smear)\b[^.!?\n]{0,40}?\b(?:results?|resultats?|resultados?|befund|ergebnis(?:se)?|"
    r"risultat[oi]|abnormal|anormal|auffallig|positive?|positivo|positif)\b")

_DIAGNOSIS = re.compile(
    rf"\b(?:diagnosed|diagnosis|diagnostic|diagnostique|diagnosticado|diagnosticada|diagnostico|diagnose|"
    rf"diagnostiziert|diagnosi|diagnosticato|diagnosticata)\b[^.!?\n]{{0,40}}?\b{_CONDITIONS}\b"
    rf"|\b{_CONDITIONS}\b[^.!?\n]{{0,40}}?\b(?:diagnosis|diagnostic|diagnostico|diagnose|diagnosi)\b")

_PERSONAL_WORDS = (
    "your", "you", "appointment", "treatment", "session", "follow-up", "check-up", "results", "clinic",
    "votre", "vos", "rendez-vous", "rdv", "traitement", "seance", "suivi", "consultation",
    "su", "tu", "sus", "cita", "tratamiento", "sesion", "seguimiento", "consulta",
    "ihr", "ihre", "ihren", "dein", "deine", "termin", "behandlung", "sitzung", "kontrolle", "sprechstunde",
    "seu", "sua", "teu", "tua", "consulta", "tratamento", "sessao", "acompanhamento",
    "tuo", "tua", "suo", "sua", "appuntamento", "visita", "terapia", "seduta", "controllo",
)
_PERSONAL = _alt(*_PERSONAL_WORDS)

_CONDITION = re.compile(
    rf"\b{_PERSONAL}\b[^.!?\n]{{0,50}}?\b(?:{_CONDITIONS}|{_SPECIALTIES})\b"
    rf"|\b(?:{_CONDITIONS}|{_SPECIALTIES})\b[^.!?\n]{{0,40}}?\b{_PERSONAL}\b")

_MEDICATION = re.compile(
    rf"\b{_MEDICINES}\b|{_DOSE}[^.!?\n]{{0,40}}?\b{_PRESCRIPTION}\b|\b{_PRESCRIPTION}\b[^.!?\n]{{0,40}}?{_DOSE}")


_REQUIRES: dict[str, tuple[frozenset[str], ...]] = {
    "diagnosis": (first_words(_CONDITIONS_WORDS),),
    "medication": (first_words(_MEDICINES_WORDS) | first_words(_PRESCRIPTION_WORDS),),
    "lab_result": (),
    "condition": (first_words(_PERSONAL_WORDS), first_words(_CONDITIONS_WORDS) | first_words(_SPECIALTIES_WORDS)),
}


def find_phi(text: str) -> dict[str, str]:
    """PHI kind -> the words that matched, for each kind found in `text`."""
    folded = fold(text)
    words = words_of(folded)
    found: dict[str, str] = {}
    for kind, pattern in (("diagnosis", _DIAGNOSIS), ("medication", _MEDICATION), ("lab_result", _LAB),
                          ("condition", _CONDITION)):
        if any(words.isdisjoint(needed) for needed in _REQUIRES[kind]):
            continue
        m = pattern.search(folded)
        if m:
            found[kind] = m.group(0).strip()
    return found
