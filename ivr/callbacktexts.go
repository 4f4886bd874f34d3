package ivr

// CallbackText is the default wording of a callback node's prompts, in one
// language. Parts of the form ${var} in Confirm, Done and Later are read
// back at run time (the number digit by digit, times as numbers); the
// loader splits them.
type CallbackText struct {
	Confirm   string // reads back ${callback.number}, 1 confirms, 2 another number
	Ask       string // asks for another number, ended by #
	Invalid   string // the number typed is not one
	Done      string // the request is stored; in ${callback.minutes} minutes
	Later     string // the request is stored; from ${callback.hour} h ${callback.minute}
	Existing  string // a request is pending: 1 keeps it, 2 cancels it
	Kept      string
	Cancelled string
	Failure   string
	Greeting  string // heard by the customer called back
	Hold      string // the customer waits for an agent (caller-first)
	Offer     string // the queue's offer; %s is the key
	Slot      string // 1 as soon as possible, 2 to choose the hour
	SlotAsk   string // the hour, ended by #
	BadHour   string // not an hour
}

var callbackTexts = map[string]CallbackText{
	frenchLang: {
		Confirm:   "Nous vous rappellerons au ${callback.number}. Pour confirmer, tapez 1. Pour indiquer un autre numéro, tapez 2.",
		Ask:       "Veuillez composer le numéro auquel vous souhaitez être rappelé, suivi de la touche dièse.",
		Invalid:   "Ce numéro n'est pas valide.",
		Done:      "Votre demande de rappel est enregistrée. Un conseiller vous rappellera dans environ ${callback.minutes} minutes. Merci, au revoir.",
		Later:     "Votre demande de rappel est enregistrée. Un conseiller vous rappellera à partir de ${callback.hour} heures ${callback.minute}. Merci, au revoir.",
		Existing:  "Vous avez déjà demandé à être rappelé. Pour conserver cette demande, tapez 1. Pour l'annuler, tapez 2.",
		Kept:      "Votre demande de rappel est conservée. Au revoir.",
		Cancelled: "Votre demande de rappel est annulée. Au revoir.",
		Failure:   "Nous ne pouvons pas enregistrer votre demande de rappel.",
		Greeting:  "Bonjour, vous aviez demandé à être rappelé par notre service client.",
		Hold:      "Un conseiller va prendre votre appel. Merci de patienter.",
		Offer:     "Plutôt que d'attendre, vous pouvez être rappelé sans perdre votre place : tapez %s.",
		Slot:      "Pour être rappelé dès que possible, tapez 1. Pour choisir l'heure du rappel, tapez 2.",
		SlotAsk:   "Tapez l'heure à partir de laquelle vous souhaitez être rappelé, de 0 à 23, suivie de la touche dièse.",
		BadHour:   "Cette heure n'est pas valide.",
	},
	englishLang: {
		Confirm:   "We will call you back on ${callback.number}. To confirm, press 1. To give another number, press 2.",
		Ask:       "Please dial the number you would like to be called back on, followed by the hash key.",
		Invalid:   "This number is not valid.",
		Done:      "Your callback request is registered. An advisor will call you back in about ${callback.minutes} minutes. Thank you, goodbye.",
		Later:     "Your callback request is registered. An advisor will call you back from ${callback.hour} hours ${callback.minute}. Thank you, goodbye.",
		Existing:  "You have already asked to be called back. To keep this request, press 1. To cancel it, press 2.",
		Kept:      "Your callback request is kept. Goodbye.",
		Cancelled: "Your callback request is cancelled. Goodbye.",
		Failure:   "We cannot register your callback request.",
		Greeting:  "Hello, you asked our customer service to call you back.",
		Hold:      "An advisor will take your call. Please hold.",
		Offer:     "Rather than wait, you can be called back without losing your place: press %s.",
		Slot:      "To be called back as soon as possible, press 1. To choose the time, press 2.",
		SlotAsk:   "Enter the hour from which you would like to be called back, from 0 to 23, followed by the hash key.",
		BadHour:   "This is not a valid hour.",
	},
}

// CallbackTexts returns the default callback wording of a language.
func CallbackTexts(lang string) (CallbackText, bool) {
	t, ok := callbackTexts[lang]
	return t, ok
}
