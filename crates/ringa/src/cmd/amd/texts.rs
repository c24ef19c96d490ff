//! Phrases spoken in generated corpus clips, per language and kind of
//! answer. Names and companies are invented.

/// What a phrase is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A one-word answer ("Hello?").
    Hello,
    /// Answering with a name.
    Name,
    /// A business greeting.
    Business,
    /// A person or assistant asking who is calling.
    Screener,
    /// Sentences of a personal voicemail greeting.
    Personal,
    /// A carrier's voicemail announcement.
    Carrier,
    /// A very short voicemail greeting.
    Short,
    /// A network announcement after special information tones.
    Announcement,
    /// An automated menu.
    Ivr,
}

/// Languages with phrases, as espeak-ng language names.
pub(crate) const LANGUAGES: [&str; 6] = ["en", "sv", "de", "fr", "es", "nl"];

/// The phrases of `kind` in `lang` (espeak-ng names; "en-us" uses English).
pub(crate) fn phrases(lang: &str, kind: Kind) -> &'static [&'static str] {
    let lang = if lang.starts_with("en") { "en" } else { lang };
    match (lang, kind) {
        ("en", Kind::Hello) => &["Hello?", "Hi.", "Yes, hello?", "Hello."],
        ("en", Kind::Name) => &["Hello, this is Anna.", "Peter speaking.", "Hi, it's Mark."],
        ("en", Kind::Business) => &[
            "Good morning, Baker and Sons, Lisa speaking.",
            "Northfield Dental, how can I help?",
            "Hello, Greenway Plumbing, this is Tom.",
        ],
        ("en", Kind::Screener) => &[
            "Who is calling, please?",
            "Hi, who's this?",
            "Hello, the person you are calling uses a screening service. Say your name.",
        ],
        ("en", Kind::Personal) => &[
            "Hi, you have reached Anna.",
            "Hello, this is Peter.",
            "I can't take your call right now.",
            "Sorry I missed you.",
            "I'm away from the phone at the moment.",
            "Please leave your name and number after the tone.",
            "I will call you back as soon as I can.",
            "Have a great day.",
            "You can also send me a text message.",
        ],
        ("en", Kind::Carrier) => &[
            "The person you are calling is not available.",
            "Please leave a message after the tone.",
            "When you have finished recording, you may hang up.",
            "The mobile subscriber cannot be reached.",
        ],
        ("en", Kind::Short) => &["Leave a message.", "Anna. Leave a message.", "Not here, beep."],
        ("en", Kind::Announcement) => &[
            "The number you have dialed is not in service.",
            "Please check the number and dial again.",
        ],
        ("en", Kind::Ivr) => &[
            "Welcome to Northfield Energy.",
            "For billing, press one.",
            "For a new contract, press two.",
            "To speak to an agent, press zero.",
            "Your call is important to us.",
        ],
        ("sv", Kind::Hello) => &["Hallå?", "Hej.", "Ja, hallå?", "Ja?"],
        ("sv", Kind::Name) => &["Hej, det är Anna.", "Peter här.", "Ja, det är Lars."],
        ("sv", Kind::Business) => &[
            "Godmorgon, Berg och Son, Lisa här.",
            "Tandvården i Norrby, vad kan jag hjälpa till med?",
            "Hej, Gröna rör, det är Tom.",
        ],
        ("sv", Kind::Screener) => &[
            "Vem är det som ringer?",
            "Hej, vem söker du?",
            "Hej, personen du ringer använder en samtalsvakt. Säg ditt namn.",
        ],
        ("sv", Kind::Personal) => &[
            "Hej, du har kommit till Anna.",
            "Hej, det är Peter.",
            "Jag kan inte svara just nu.",
            "Tyvärr missade jag ditt samtal.",
            "Lämna ett meddelande efter tonen.",
            "Jag ringer upp så snart jag kan.",
            "Ha en bra dag.",
            "Du kan också skicka ett sms.",
        ],
        ("sv", Kind::Carrier) => &[
            "Personen du söker kan inte ta emot ditt samtal just nu.",
            "Lämna ett meddelande efter tonen.",
            "Den du ringer är inte tillgänglig.",
            "När du är klar kan du lägga på.",
        ],
        ("sv", Kind::Short) => &["Lämna ett meddelande.", "Anna. Tala in.", "Inte här, pip."],
        ("sv", Kind::Announcement) => {
            &["Det nummer du har slagit saknar abonnent.", "Kontrollera numret och försök igen."]
        }
        ("sv", Kind::Ivr) => &[
            "Välkommen till Norrby Energi.",
            "För fakturor, tryck ett.",
            "För nytt avtal, tryck två.",
            "För att tala med en handläggare, tryck noll.",
            "Ditt samtal är viktigt för oss.",
        ],
        ("de", Kind::Hello) => &["Hallo?", "Ja, bitte?", "Hallo.", "Ja?"],
        ("de", Kind::Name) => &["Hallo, hier ist Anna.", "Peter Müller.", "Ja, Schmidt hier."],
        ("de", Kind::Business) => &[
            "Guten Morgen, Bäckerei Weber, Lisa am Apparat.",
            "Zahnarztpraxis Nordfeld, was kann ich für Sie tun?",
        ],
        ("de", Kind::Screener) => &[
            "Wer ist denn da, bitte?",
            "Hallo, wer spricht?",
            "Hallo, die Person nutzt einen Anrufschutz. Bitte nennen Sie Ihren Namen.",
        ],
        ("de", Kind::Personal) => &[
            "Hallo, hier ist der Anschluss von Anna.",
            "Ich bin gerade nicht erreichbar.",
            "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
            "Ich rufe so bald wie möglich zurück.",
            "Vielen Dank und einen schönen Tag.",
            "Sie können mir auch eine Nachricht schreiben.",
        ],
        ("de", Kind::Carrier) => &[
            "Der gewünschte Gesprächspartner ist zurzeit nicht erreichbar.",
            "Bitte sprechen Sie nach dem Signalton.",
            "Wenn Sie fertig sind, legen Sie einfach auf.",
        ],
        ("de", Kind::Short) => &["Bitte Nachricht.", "Anna. Nachricht bitte."],
        ("de", Kind::Announcement) => {
            &["Kein Anschluss unter dieser Nummer.", "Bitte überprüfen Sie die Nummer."]
        }
        ("de", Kind::Ivr) => &[
            "Willkommen bei Nordfeld Energie.",
            "Für Rechnungen drücken Sie die Eins.",
            "Für einen neuen Vertrag drücken Sie die Zwei.",
            "Ihr Anruf ist uns wichtig.",
        ],
        ("fr", Kind::Hello) => &["Allô?", "Oui, allô?", "Allô.", "Oui?"],
        ("fr", Kind::Name) => &["Allô, c'est Anne.", "Oui, Pierre à l'appareil."],
        ("fr", Kind::Business) => &[
            "Bonjour, boulangerie Martin, Lise à l'appareil.",
            "Cabinet dentaire du Nord, je vous écoute.",
        ],
        ("fr", Kind::Screener) => &[
            "C'est de la part de qui?",
            "Allô, qui est à l'appareil?",
            "Bonjour, votre correspondant filtre ses appels. Dites votre nom.",
        ],
        ("fr", Kind::Personal) => &[
            "Bonjour, vous êtes bien chez Anne.",
            "Je ne suis pas disponible pour le moment.",
            "Laissez-moi un message après le bip.",
            "Je vous rappellerai dès que possible.",
            "Bonne journée.",
        ],
        ("fr", Kind::Carrier) => &[
            "Votre correspondant n'est pas disponible.",
            "Laissez un message après le bip sonore.",
            "Une fois terminé, vous pouvez raccrocher.",
        ],
        ("fr", Kind::Short) => &["Laissez un message.", "Anne. Un message."],
        ("fr", Kind::Announcement) => {
            &["Le numéro que vous avez demandé n'est pas attribué.", "Veuillez vérifier le numéro."]
        }
        ("fr", Kind::Ivr) => &[
            "Bienvenue chez Énergie du Nord.",
            "Pour la facturation, tapez un.",
            "Pour un nouveau contrat, tapez deux.",
            "Votre appel est important pour nous.",
        ],
        ("es", Kind::Hello) => &["¿Diga?", "¿Sí?", "¿Hola?", "¿Dígame?"],
        ("es", Kind::Name) => &["Hola, soy Ana.", "Sí, habla Pedro."],
        ("es", Kind::Business) => &[
            "Buenos días, panadería García, le atiende Lucía.",
            "Clínica dental Norte, ¿en qué puedo ayudarle?",
        ],
        ("es", Kind::Screener) => &[
            "¿De parte de quién?",
            "¿Quién llama, por favor?",
            "Hola, la persona usa un filtro de llamadas. Diga su nombre.",
        ],
        ("es", Kind::Personal) => &[
            "Hola, has llamado a Ana.",
            "Ahora mismo no puedo atenderte.",
            "Deja tu mensaje después de la señal.",
            "Te llamaré lo antes posible.",
            "Que tengas un buen día.",
        ],
        ("es", Kind::Carrier) => &[
            "El teléfono al que llama no está disponible.",
            "Deje su mensaje después de la señal.",
            "Cuando termine, puede colgar.",
        ],
        ("es", Kind::Short) => &["Deja un mensaje.", "Ana. Deja tu mensaje."],
        ("es", Kind::Announcement) => {
            &["El número marcado no existe.", "Por favor, compruebe el número."]
        }
        ("es", Kind::Ivr) => &[
            "Bienvenido a Energía del Norte.",
            "Para facturación, pulse uno.",
            "Para un nuevo contrato, pulse dos.",
            "Su llamada es importante para nosotros.",
        ],
        ("nl", Kind::Hello) => &["Hallo?", "Ja, hallo?", "Met wie?", "Ja?"],
        ("nl", Kind::Name) => &["Hallo, met Anna.", "Met Pieter."],
        ("nl", Kind::Business) => &[
            "Goedemorgen, bakkerij De Vries, met Lisa.",
            "Tandartspraktijk Noord, waarmee kan ik helpen?",
        ],
        ("nl", Kind::Screener) => &[
            "Met wie spreek ik?",
            "Hallo, wie belt er?",
            "Hallo, deze persoon gebruikt een belfilter. Zeg uw naam.",
        ],
        ("nl", Kind::Personal) => &[
            "Hallo, je spreekt met de voicemail van Anna.",
            "Ik ben er even niet.",
            "Spreek een bericht in na de piep.",
            "Ik bel je zo snel mogelijk terug.",
            "Fijne dag nog.",
        ],
        ("nl", Kind::Carrier) => &[
            "De persoon die u belt is niet bereikbaar.",
            "Spreek uw bericht in na de toon.",
            "Als u klaar bent, kunt u ophangen.",
        ],
        ("nl", Kind::Short) => &["Spreek iets in.", "Anna. Laat een bericht achter."],
        ("nl", Kind::Announcement) => {
            &["Dit nummer is niet in gebruik.", "Controleer het nummer en probeer het opnieuw."]
        }
        ("nl", Kind::Ivr) => &[
            "Welkom bij Energie Noord.",
            "Voor facturen, toets een.",
            "Voor een nieuw contract, toets twee.",
            "Uw oproep is belangrijk voor ons.",
        ],
        _ => &[],
    }
}
