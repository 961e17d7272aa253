"""Every learner-facing sentence, in English and Spanish.

Chosen by the learner's explanation language; strings are ``str.format``
templates. Keep them short: a patient friend who texts back.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "es"]
LANGUAGES: tuple[Lang, ...] = ("en", "es")

CATALOG: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "Hi! I'm your Spanish and English tutor 👋\nWhich language do you want to practise?",
        "es": "¡Hola! Soy tu tutor de español e inglés 👋\n¿Qué idioma quieres practicar?",
    },
    "ask_target": {
        "en": "Which language do you want to practise?",
        "es": "¿Qué idioma quieres practicar?",
    },
    "ask_explain": {
        "en": "Great! And which language should I explain things in?",
        "es": "¡Genial! ¿Y en qué idioma te explico las cosas?",
    },
    "ask_level": {
        "en": "How much {language} do you know?",
        "es": "¿Cuánto {language} sabes?",
    },
    "level_a1": {"en": "Just starting", "es": "Estoy empezando"},
    "level_a2": {"en": "I can talk about simple things", "es": "Puedo hablar de cosas sencillas"},
    "level_b1": {"en": "I can hold a conversation", "es": "Puedo mantener una conversación"},
    "ask_timezone": {
        "en": "Where are you? Send your city (like Madrid or Mexico City) "
        'or your time now (like 14:30), or "skip".',
        "es": "¿Dónde estás? Manda tu ciudad (como Madrid o Ciudad de México) "
        'o la hora que tienes ahora (como 14:30), o "saltar".',
    },
    "timezone_set": {"en": "Got it: {zone}.", "es": "Entendido: {zone}."},
    "ask_practice_time": {
        "en": 'When do you like to practise? Send a time like 7pm, or "skip".',
        "es": '¿A qué hora te gusta practicar? Manda una hora como 19:00, o "saltar".',
    },
    "onboarding_done_time": {
        "en": "Done: I'll nudge you at {time} when reviews are waiting.",
        "es": "Listo: te avisaré a las {time} cuando tengas repasos pendientes.",
    },
    "onboarding_done": {
        "en": 'Done! You can change this any time with "language".',
        "es": '¡Listo! Puedes cambiarlo cuando quieras con "idioma".',
    },
    "did_not_understand_choice": {
        "en": "Sorry, I didn't get that. Reply with a number from the list.",
        "es": "Perdona, no te entendí. Responde con un número de la lista.",
    },
    "did_not_understand_timezone": {
        "en": 'I couldn\'t place that. Try a city like Madrid, a time like 14:30, or "skip".',
        "es": 'No lo encontré. Prueba con una ciudad como Madrid, una hora como 14:30 o "saltar".',
    },
    "did_not_understand_time": {
        "en": 'I couldn\'t read that time. Try "7pm", "19:00" or "skip".',
        "es": 'No entendí esa hora. Prueba "19:00", "7pm" o "saltar".',
    },
    "finish_setup_first": {
        "en": "Let's finish setting up first (one more step or two).",
        "es": "Terminemos primero de configurar (faltan uno o dos pasos).",
    },
    "menu": {
        "en": "What would you like to do?",
        "es": "¿Qué quieres hacer?",
    },
    "menu_conversation": {"en": "Conversation", "es": "Conversación"},
    "menu_grammar": {"en": "Grammar", "es": "Gramática"},
    "menu_pronunciation": {"en": "Pronunciation", "es": "Pronunciación"},
    "menu_vocabulary": {"en": "Vocabulary", "es": "Vocabulario"},
    "menu_progress": {"en": "Progress", "es": "Progreso"},
    "menu_subscription": {"en": "Subscription", "es": "Suscripción"},
    "welcome_back": {
        "en": "Welcome back! 👋",
        "es": "¡Hola de nuevo! 👋",
    },
    "help": {
        "en": "I'm your {language} tutor. Things you can send me any time:\n"
        "• menu: what we can practise\n"
        "• language: change languages\n"
        "• progress · subscription status · stop reminders\n"
        'Numbers answer my questions, e.g. "2".',
        "es": "Soy tu tutor de {language}. Puedes mandarme en cualquier momento:\n"
        "• menú: qué podemos practicar\n"
        "• idioma: cambiar de idioma\n"
        "• progreso · estado de suscripción · parar recordatorios\n"
        'Los números responden a mis preguntas, p. ej. "2".',
    },
    "coming_soon": {
        "en": '{feature} is coming soon 🛠️ Send "menu" to see what works today.',
        "es": '{feature}: muy pronto 🛠️ Manda "menú" para ver lo que ya funciona.',
    },
    "feature_conversation": {"en": "Conversation practice", "es": "La práctica de conversación"},
    "feature_grammar": {"en": "Grammar practice", "es": "La práctica de gramática"},
    "feature_pronunciation": {
        "en": "Pronunciation practice with voice notes",
        "es": "La práctica de pronunciación con notas de voz",
    },
    "feature_vocabulary": {"en": "Vocabulary reviews", "es": "El repaso de vocabulario"},
    "progress_header": {"en": "📈 Your progress", "es": "📈 Tu progreso"},
    "drill_none": {
        "en": "There are no pronunciation drills for your level yet.",
        "es": "Todavía no hay ejercicios de pronunciación para tu nivel.",
    },
    "drill_ask": {
        "en": "🎙️ Send a voice note saying:\n«{sentence}»\n💡 {tip}",
        "es": "🎙️ Manda una nota de voz diciendo:\n«{sentence}»\n💡 {tip}",
    },
    "drill_next": {"en": "Next one:", "es": "Otra:"},
    "drill_again": {
        "en": "Try again with another voice note: «{sentence}»",
        "es": "Inténtalo otra vez con otra nota de voz: «{sentence}»",
    },
    "voice_no_model": {
        "en": "I can only listen to English voice notes on this server for now; for {language}, "
        "please type, and I'll correct it 🙂",
        "es": "Por ahora en este servidor solo puedo escuchar notas de voz en inglés; en "
        "{language}, escríbeme y te corrijo 🙂",
    },
    "voice_heard": {"en": "🎙️ I heard: «{text}»", "es": "🎙️ He oído: «{text}»"},
    "voice_scores": {
        "en": "Accuracy {accuracy} · completeness {completeness} · fluency {fluency} (of 100)",
        "es": "Precisión {accuracy} · compleción {completeness} · fluidez {fluency} (de 100)",
    },
    "voice_work_on": {"en": "Words to work on: {words}", "es": "Palabras a practicar: {words}"},
    "voice_sound": {"en": "{sound}: {score}%", "es": "{sound}: {score}%"},
    "voice_well_done": {"en": "Well said! 👏", "es": "¡Muy bien dicho! 👏"},
    "voice_too_big": {
        "en": "That voice note is too big for me (16 MB at most). Could you send a shorter one?",
        "es": "Esa nota de voz es demasiado grande (16 MB como máximo). ¿Me mandas una más corta?",
    },
    "voice_too_long": {
        "en": "That's a long one! I listen to up to 2 minutes: could you send a shorter note?",
        "es": "¡Qué larga! Escucho hasta 2 minutos: ¿me mandas una nota más corta?",
    },
    "voice_not_audio": {
        "en": "I couldn't find any sound in that file. Could you record a voice note?",
        "es": "No encuentro sonido en ese archivo. ¿Puedes grabar una nota de voz?",
    },
    "voice_corrupt": {
        "en": "That recording seems damaged and I can't play it. Could you record it again?",
        "es": "Esa grabación parece dañada y no puedo reproducirla. ¿La grabas otra vez?",
    },
    "voice_empty": {
        "en": "That voice note is empty. Hold the mic button while you speak 🙂",
        "es": "Esa nota de voz está vacía. Mantén pulsado el micro mientras hablas 🙂",
    },
    "voice_silent": {
        "en": "I couldn't hear anything. Could you speak a bit closer to the mic?",
        "es": "No he oído nada. ¿Puedes hablar un poco más cerca del micro?",
    },
    "voice_no_speech": {
        "en": "I couldn't make out any words in {language} there (noise, music, or another "
        "language?). Could you try again in {language}, somewhere quieter?",
        "es": "No he distinguido palabras en {language} (¿ruido, música u otro idioma?). "
        "¿Lo intentas otra vez en {language}, en un sitio más tranquilo?",
    },
    "voice_unavailable": {
        "en": "I couldn't listen to that right now. Please try again in a moment.",
        "es": "Ahora mismo no he podido escucharla. Inténtalo de nuevo en un momento.",
    },
    "voice_not_the_sentence": {
        "en": "I didn't catch the sentence's words. If you said it in another language, try "
        "it in {language} 🙂",
        "es": "No he reconocido las palabras de la frase. Si la has dicho en otro idioma, "
        "pruébala en {language} 🙂",
    },
    "voice_other_language": {
        "en": "That didn't sound like {language}. Try saying it in {language} 🙂",
        "es": "Eso no sonaba a {language}. Prueba a decirlo en {language} 🙂",
    },
    "sound_trilled_r": {"en": "the trilled r (rr)", "es": "la erre múltiple (rr)"},
    "sound_tapped_r": {"en": "the tapped r", "es": "la erre simple"},
    "sound_j_sound": {"en": "the j sound", "es": "el sonido de la j"},
    "sound_ll_y": {"en": "ll and y", "es": "la ll y la y"},
    "sound_b_v": {"en": "b and v", "es": "la b y la v"},
    "sound_v_b": {"en": "v and b", "es": "la v y la b"},
    "sound_z_s": {"en": "z and soft c", "es": "la z y la c suave"},
    "sound_w_sound": {"en": "the w sound", "es": "el sonido de la w"},
    "sound_short_i": {"en": "the short i (ship)", "es": "la i corta (ship)"},
    "sound_long_ee": {"en": "the long ee (sheep)", "es": "la i larga (sheep)"},
    "sound_sh_ch": {"en": "sh and ch", "es": "sh y ch"},
    "sound_s_clusters": {"en": "s + consonant (street)", "es": "s + consonante (street)"},
    "sound_n_tilde": {"en": "the ñ", "es": "la ñ"},
    "sound_h_sound": {"en": "the h sound", "es": "el sonido de la h"},
    "sound_ed_endings": {"en": "-ed endings", "es": "las terminaciones -ed"},
    "sound_d_soft": {"en": "the soft d", "es": "la d suave"},
    "sound_vowel_a": {"en": "the a vowel", "es": "la vocal a"},
    "sound_vowel_e": {"en": "the e vowel", "es": "la vocal e"},
    "sound_vowel_i": {"en": "the i vowel", "es": "la vocal i"},
    "sound_vowel_o": {"en": "the o vowel", "es": "la vocal o"},
    "sound_vowel_u": {"en": "the u vowel", "es": "la vocal u"},
    "level_up": {
        "en": "🎯 You're ready for more: your level is now {level}. New words and scenes "
        "come from {level} from now on.",
        "es": "🎯 Estás listo para más: tu nivel ahora es {level}. Las palabras y escenas "
        "nuevas serán de {level}.",
    },
    "level_down": {
        "en": "🎯 Let's consolidate for a while: your level is now {level}, so new words "
        "and scenes are a bit easier.",
        "es": "🎯 Vamos a afianzar un poco: tu nivel ahora es {level}, así que las palabras "
        "y escenas nuevas serán algo más fáciles.",
    },
    "card_messages": {"en": "messages", "es": "mensajes"},
    "card_reviews": {"en": "reviews", "es": "repasos"},
    "card_week": {"en": "Your week (streak: {streak})", "es": "Tu semana (racha: {streak})"},
    "card_mistakes": {"en": "Mistakes per 10 messages", "es": "Errores por 10 mensajes"},
    "card_this_week": {"en": "this week", "es": "esta semana"},
    "card_last_week": {"en": "last week", "es": "semana pasada"},
    "card_no_mistakes": {"en": "No mistakes found 🎉", "es": "Sin errores 🎉"},
    "progress_activity": {
        "en": "🔥 Streak: {streak} day(s) · {days} day(s) active in all",
        "es": "🔥 Racha: {streak} día(s) · {days} día(s) activos en total",
    },
    "progress_words": {
        "en": "📚 Words: {learned} learned, {learning} still being learned",
        "es": "📚 Palabras: {learned} aprendidas, {learning} en aprendizaje",
    },
    "progress_reviews": {
        "en": "✅ Reviews (30 days): {count}, {accuracy}% remembered",
        "es": "✅ Repasos (30 días): {count}, {accuracy}% recordados",
    },
    "progress_clean": {
        "en": "✍️ This week {share}% of your {turns} messages had no mistake",
        "es": "✍️ Esta semana el {share}% de tus {turns} mensajes no tenía errores",
    },
    "progress_trend_improving": {
        "en": "{arrow} {label}: getting rarer ({now} per 10 messages, was {before})",
        "es": "{arrow} {label}: cada vez menos ({now} por 10 mensajes, antes {before})",
    },
    "progress_trend_worsening": {
        "en": "{arrow} {label}: more often lately ({now} per 10 messages, was {before})",
        "es": "{arrow} {label}: más a menudo ({now} por 10 mensajes, antes {before})",
    },
    "progress_trend_steady": {
        "en": "{arrow} {label}: about the same ({now} per 10 messages)",
        "es": "{arrow} {label}: igual que antes ({now} por 10 mensajes)",
    },
    "progress_mistake_cards": {
        "en": "🔁 {count} recurring mistake(s) in your reviews (“my mistakes” lists them)",
        "es": "🔁 {count} error(es) frecuente(s) en tus repasos («mis errores» los muestra)",
    },
    "progress_level": {"en": "🎯 Level: {level}", "es": "🎯 Nivel: {level}"},
    "progress_spoken": {
        "en": "🎙️ Pronunciation this week: {count} voice note(s), accuracy {accuracy}",
        "es": "🎙️ Pronunciación esta semana: {count} nota(s) de voz, precisión {accuracy}",
    },
    "progress_spoken_trend": {
        "en": "🎙️ Pronunciation this week: {count} voice note(s), accuracy {accuracy} "
        "(last week {before})",
        "es": "🎙️ Pronunciación esta semana: {count} nota(s) de voz, precisión {accuracy} "
        "(semana pasada {before})",
    },
    "progress_weakest_sound": {
        "en": "   the sound to work on: {sound} ({score}%)",
        "es": "   el sonido a practicar: {sound} ({score}%)",
    },
    "progress_skill": {
        "en": "   {skill}: {level}, {verdict}",
        "es": "   {skill}: {level}, {verdict}",
    },
    "skill_vocabulary": {"en": "words", "es": "vocabulario"},
    "skill_writing": {"en": "writing", "es": "escritura"},
    "skill_ready": {"en": "ready for the next level", "es": "listo para el siguiente nivel"},
    "skill_steady": {"en": "on track", "es": "vas bien"},
    "skill_struggling": {"en": "needs more practice", "es": "necesita más práctica"},
    "skill_unknown": {
        "en": "not enough practice in two weeks to tell",
        "es": "poca práctica en dos semanas para saberlo",
    },
    "mistake_exercise": {
        "en": "Earlier you wrote: «{sentence}»\nHow should «{wrong}» be?",
        "es": "Antes escribiste: «{sentence}»\n¿Cómo debería ser «{wrong}»?",
    },
    "mistake_wrong": {
        "en": "Not quite: it's «{right}».",
        "es": "No exactamente: es «{right}».",
    },
    "mistakes_none": {
        "en": "No recurring mistakes so far. Keep writing! 💪",
        "es": "De momento no hay errores que se repitan. ¡Sigue escribiendo! 💪",
    },
    "mistakes_header": {"en": "Your recurring mistakes:", "es": "Tus errores frecuentes:"},
    "mistakes_line": {
        "en": "{number}. {label} ×{count}: «{wrong}» → «{right}»",
        "es": "{number}. {label} ×{count}: «{wrong}» → «{right}»",
    },
    "mistakes_footer": {
        "en": "Those seen 3 times come up in your reviews (menu 4). If a correction was wrong, "
        "reply “that wasn't a mistake” right after it.",
        "es": "Los que se repiten 3 veces salen en tus repasos (menú 4). Si una corrección "
        "estaba mal, responde «eso no era un error» justo después.",
    },
    "mistake_disputed": {
        "en": "Thanks, noted: I won't review «{wrong}» → «{right}» with you again.",
        "es": "Gracias, anotado: no volveré a repasar «{wrong}» → «{right}» contigo.",
    },
    "mistake_nothing_to_dispute": {
        "en": "Tell me right after a correction and I'll drop it.",
        "es": "Dímelo justo después de una corrección y la quito.",
    },
    "code_GENDER": {"en": "gender agreement", "es": "concordancia de género"},
    "code_NUMBER": {"en": "singular and plural", "es": "singular y plural"},
    "code_SER_ESTAR": {"en": "ser or estar", "es": "ser o estar"},
    "code_PREP": {"en": "prepositions", "es": "preposiciones"},
    "code_ART": {"en": "articles", "es": "artículos"},
    "code_SPELL": {"en": "spelling", "es": "ortografía"},
    "code_ACCENT": {"en": "accents", "es": "tildes"},
    "code_VERB_FORM": {"en": "verb forms", "es": "formas verbales"},
    "code_WORD_ORDER": {"en": "word order", "es": "orden de palabras"},
    "code_COMPARISON": {"en": "comparisons", "es": "comparaciones"},
    "code_PRONOUN": {"en": "pronouns", "es": "pronombres"},
    "code_WORD_CHOICE": {"en": "word choice", "es": "elección de palabras"},
    "code_OTHER": {"en": "other", "es": "otros"},
    "vocab_new": {
        "en": "New word: *{word}*: {meaning}\n«{example}» ({example_meaning})",
        "es": "Palabra nueva: *{word}*: {meaning}\n«{example}» ({example_meaning})",
    },
    "vocab_choice": {
        "en": "Which one means “{meaning}”? Reply with the number.",
        "es": "¿Cuál significa «{meaning}»? Responde con el número.",
    },
    "vocab_translate": {
        "en": "How do you say “{meaning}” in {language}?",
        "es": "¿Cómo se dice «{meaning}» en {language}?",
    },
    "vocab_cloze": {
        "en": "Fill the gap: «{sentence}» ({hint})",
        "es": "Completa: «{sentence}» ({hint})",
    },
    "vocab_say": {
        "en": "🎙️ Say it in a voice note: how do you say “{meaning}”?",
        "es": "🎙️ Dilo en una nota de voz: ¿cómo se dice «{meaning}»?",
    },
    "vocab_type_it": {
        "en": "I can't listen here: please type your answer.",
        "es": "Aquí no puedo escuchar: escribe tu respuesta, por favor.",
    },
    "vocab_meaning": {"en": "What does *{word}* mean?", "es": "¿Qué significa *{word}*?"},
    "vocab_right": {"en": "Correct! ✅", "es": "¡Correcto! ✅"},
    "vocab_wrong": {
        "en": "Not quite: it's *{word}* ({meaning}). «{example}»",
        "es": "No exactamente: es *{word}* ({meaning}). «{example}»",
    },
    "vocab_done": {
        "en": "You're all done for today! 🎉 New words come tomorrow.",
        "es": "¡Has terminado por hoy! 🎉 Mañana hay palabras nuevas.",
    },
    "vocab_done_until": {
        "en": "You're all done for now! 🎉 Next review {when}.",
        "es": "¡Has terminado por ahora! 🎉 Próximo repaso {when}.",
    },
    "vocab_in_minutes": {"en": "in {minutes} min", "es": "en {minutes} min"},
    "vocab_in_hours": {"en": "in {hours} h", "es": "en {hours} h"},
    "vocab_tomorrow": {"en": "tomorrow", "es": "mañana"},
    "vocab_in_days": {"en": "in {days} days", "es": "en {days} días"},
    "vocab_offer": {
        "en": "Add it to your reviews? 1 yes 2 no",
        "es": "¿Lo añado a tus repasos? 1 sí 2 no",
    },
    "vocab_added": {
        "en": "Added! It will come up in your reviews (menu 4).",
        "es": "¡Añadida! Saldrá en tus repasos (menú 4).",
    },
    "vocab_not_added": {"en": "OK, not added.", "es": "Vale, no la añado."},
    "vocab_unavailable": {
        "en": "Reviews need your learner record; please try again in a moment.",
        "es": "Los repasos necesitan tu ficha; inténtalo de nuevo en un momento.",
    },
    "feature_progress": {"en": "Your progress report", "es": "Tu informe de progreso"},
    "feature_subscription": {"en": "Subscriptions", "es": "Las suscripciones"},
    "feature_data": {"en": "Exporting or deleting your data", "es": "Exportar o borrar tus datos"},
    # Your data: what is remembered, export, erasure (agents/data.py)
    "data_remember_intro": {
        "en": "Here's what I keep in mind:",
        "es": "Esto es lo que tengo presente:",
    },
    "data_remember_how": {
        "en": 'Send "forget 2" to remove one, or "2 is wrong" if it isn\'t true (I\'ll never '
        'use it). You can also ask "export my data" or "delete my data".',
        "es": 'Manda "olvida la 2" para quitar una, o "la 2 está mal" si no es cierta (no la '
        'usaré nunca). También puedes pedir "exportar mis datos" o "borrar mis datos".',
    },
    "data_remember_nothing": {
        "en": "I don't remember anything about you yet 🙂 As you practise, I'll note mistakes "
        "that repeat, what helps you and your milestones, and you'll see them here.",
        "es": "Todavía no recuerdo nada sobre ti 🙂 Cuando practiques, anotaré los errores "
        "que se repiten, lo que te ayuda y tus logros, y los verás aquí.",
    },
    "data_last_session": {
        "en": "Last session, {when}: {turns} messages.",
        "es": "Última sesión, {when}: {turns} mensajes.",
    },
    "data_last_session_hard": {
        "en": "Last session, {when}: {turns} messages; hardest: {label}.",
        "es": "Última sesión, {when}: {turns} mensajes; lo más difícil: {label}.",
    },
    "data_forgot": {
        "en": "Done, I've forgotten it: «{note}»",
        "es": "Hecho, lo he olvidado: «{note}»",
    },
    "data_marked_wrong": {
        "en": "Thanks for telling me! I won't use it again: «{note}»",
        "es": "¡Gracias por avisarme! No volveré a usarla: «{note}»",
    },
    "data_no_such_note": {
        "en": "I don't have a note {number}: pick a number from 1 to {count}.",
        "es": "No tengo una nota {number}: elige un número del 1 al {count}.",
    },
    "data_note_gone": {
        "en": "Note {number} is already gone.",
        "es": "La nota {number} ya no está.",
    },
    "data_export_ready": {
        "en": "Here's everything I have stored about you, as a JSON file 📎",
        "es": "Aquí tienes todo lo que guardo sobre ti, en un archivo JSON 📎",
    },
    "data_export_elsewhere": {
        "en": 'The export is a file, and this chat can\'t show files. Ask "export my data" on '
        "Telegram or WhatsApp.",
        "es": 'La exportación es un archivo, y este chat no muestra archivos. Pide "exportar '
        'mis datos" en Telegram o WhatsApp.',
    },
    "data_delete_confirm": {
        "en": "This deletes everything I have stored about you: profile, messages, progress, "
        "reviews and notes. It can't be undone. Are you sure?",
        "es": "Esto borra todo lo que guardo sobre ti: perfil, mensajes, progreso, repasos y "
        "notas. No se puede deshacer. ¿Seguro?",
    },
    "data_delete_yes": {"en": "Yes, delete it all", "es": "Sí, bórralo todo"},
    "data_delete_no": {"en": "No, keep it", "es": "No, mejor no"},
    "data_delete_kept": {
        "en": "Okay, I haven't deleted anything. Everything stays as it was.",
        "es": "Vale, no he borrado nada. Todo sigue como estaba.",
    },
    "data_deleted": {
        "en": "Done: everything I had stored about you is deleted 👋 If you write again, "
        "we'll start from scratch.",
        "es": "Hecho: he borrado todo lo que guardaba sobre ti 👋 Si vuelves a escribir, "
        "empezaremos desde cero.",
    },
    "data_unavailable": {
        "en": "I couldn't find your record just now; please try again in a moment.",
        "es": "No encuentro tu ficha ahora mismo; inténtalo de nuevo en un momento.",
    },
    # Memory (memory/)
    "memory_welcome_back": {
        "en": "👋 Welcome back! {when} you struggled with {label} ({count}×), e.g. «{wrong}» → "
        "«{right}». Let's keep an eye on it.",
        "es": "👋 ¡Hola de nuevo! {when} te costó {label} ({count}×), p. ej. «{wrong}» → "
        "«{right}». Vamos a fijarnos.",
    },
    "when_earlier_today": {"en": "Earlier today", "es": "Hace un rato"},
    "when_yesterday": {"en": "Yesterday", "es": "Ayer"},
    "when_days_ago": {"en": "{days} days ago", "es": "Hace {days} días"},
    "note_error": {
        "en": "{label}: {count} times on {days} day(s), e.g. «{wrong}» → «{right}»",
        "es": "{label}: {count} veces en {days} día(s), p. ej. «{wrong}» → «{right}»",
    },
    "note_helped_audio": {
        "en": "Hearing the model answer and trying again helps you ({before} → {after} on a drill)",
        "es": "Escuchar la respuesta modelo y repetir te ayuda ({before} → {after} en un "
        "ejercicio)",
    },
    "note_helped_reviews": {
        "en": "Reviewing your own past mistakes works for you ({right} of {total} right)",
        "es": "Repasar tus propios errores te funciona ({right} de {total} bien)",
    },
    "note_progress_words": {
        "en": "You have learned {count}+ words",
        "es": "Has aprendido más de {count} palabras",
    },
    "note_progress_level": {"en": "You are at level {level}", "es": "Estás en el nivel {level}"},
    "note_progress_sound": {
        "en": "{sound} got clearly better ({before} → {after})",
        "es": "{sound}: ha mejorado mucho ({before} → {after})",
    },
    "note_preference_voice": {
        "en": "You like sending voice notes ({share}% of your messages)",
        "es": "Te gusta mandar notas de voz ({share}% de tus mensajes)",
    },
    "note_preference_time": {
        "en": "You usually practise in the {part}",
        "es": "Sueles practicar por la {part}",
    },
    "note_preference_activity": {
        "en": "Your favourite activity: {activity}",
        "es": "Tu actividad favorita: {activity}",
    },
    "daypart_morning": {"en": "morning", "es": "mañana"},
    "daypart_afternoon": {"en": "afternoon", "es": "tarde"},
    "daypart_evening": {"en": "evening", "es": "tarde-noche"},
    "daypart_night": {"en": "night", "es": "noche"},
    "reminders_stopped": {
        "en": 'Okay, no more reminders. Send "start reminders" to turn them back on.',
        "es": 'Vale, sin recordatorios. Manda "activar recordatorios" para volver a activarlos.',
    },
    "reminders_started": {
        "en": "Reminders are on again ⏰",
        "es": "Recordatorios activados de nuevo ⏰",
    },
    "reminder_at": {
        "en": "I'll remind you at {time} ({zone} time).",
        "es": "Te avisaré a las {time} (hora de {zone}).",
    },
    "reminder_at_quiet": {
        "en": "{time} is in my quiet hours, so I'll write at {end} ({zone} time) instead.",
        "es": "Las {time} caen en mis horas de silencio: te escribiré a las {end} "
        "(hora de {zone}).",
    },
    "reminder_review": {
        "en": 'You have {count} words to review. Reply "review" to start.',
        "es": 'Tienes {count} palabras para repasar. Responde "repasar" para empezar.',
    },
    "reminder_review_one": {
        "en": 'You have 1 word to review. Reply "review" to start.',
        "es": 'Tienes 1 palabra para repasar. Responde "repasar" para empezar.',
    },
    "reminder_streak": {
        "en": "You practised yesterday: {days} days in a row! One message today keeps it going 🔥",
        "es": "Ayer practicaste: ¡{days} días seguidos! Un mensaje hoy y sigues la racha 🔥",
    },
    "reminder_streak_start": {
        "en": "You practised yesterday. One message today makes it two days in a row 🔥",
        "es": "Ayer practicaste. Un mensaje hoy y serán dos días seguidos 🔥",
    },
    "reminder_expiry": {
        "en": 'Your subscription ends on {date}. Send "subscription" to keep it.',
        "es": 'Tu suscripción termina el {date}. Manda "suscripción" para mantenerla.',
    },
    "voice_not_yet": {
        "en": "I got your voice note 🎤 Listening to voice notes is coming soon; "
        "for now, please type.",
        "es": "Recibí tu nota de voz 🎤 Muy pronto podré escucharlas; por ahora, escríbeme.",
    },
    "unsupported": {
        "en": "I can't read that kind of message yet. Send me text or a voice note 🙂",
        "es": "Todavía no puedo leer ese tipo de mensaje. Mándame texto o una nota de voz 🙂",
    },
    "internal_error": {
        "en": "Sorry, something went wrong on my side. Could you send that again?",
        "es": "Perdona, algo falló por mi parte. ¿Me lo mandas otra vez?",
    },
    "no_curriculum": {
        "en": 'Tell me which language you want to practise first: send "language".',
        "es": 'Primero dime qué idioma quieres practicar: manda "idioma".',
    },
    "grammar_try": {
        "en": "Your turn: write a sentence that uses this, and I'll check it. "
        '("skip" for the next one)',
        "es": 'Te toca: escribe una frase que lo use y te la corrijo. ("saltar" para pasar a otro)',
    },
    "grammar_skipped": {
        "en": "No problem, let's try another one.",
        "es": "Sin problema, probemos otro.",
    },
    "grammar_correct": {
        "en": "✅ Correct, well done!",
        "es": "✅ ¡Correcto, muy bien!",
    },
    "grammar_fix": {"en": "Almost! «{sentence}»\n{note}", "es": "¡Casi! «{sentence}»\n{note}"},
    "grammar_generic_note": {
        "en": "Compare it with what you wrote.",
        "es": "Compáralo con lo que escribiste.",
    },
    "grammar_again": {
        "en": "Try another sentence with it?",
        "es": "¿Pruebas con otra frase?",
    },
    "grammar_next": {"en": "Next one:", "es": "El siguiente:"},
    "grammar_unknown_topic": {
        "en": 'I\'m not sure which grammar point you mean. Try "when do I use ser or estar?", '
        'or send "grammar" for today\'s lesson.',
        "es": 'No sé bien a qué punto de gramática te refieres. Prueba "¿cuándo uso el present '
        'perfect?", o manda "gramática" para la lección de hoy.',
    },
    "grammar_check_clean": {
        "en": "✅ I don't see any mistakes there. Nice!",
        "es": "✅ No veo ningún error. ¡Bien hecho!",
    },
    "grammar_check_found": {
        "en": "I found {count} thing(s) to fix:",
        "es": "Encontré {count} cosa(s) que corregir:",
    },
    "why_nothing": {
        "en": "There's no correction to explain right now. Write me something and I'll check it!",
        "es": "Ahora mismo no hay ninguna corrección que explicar. ¡Escríbeme algo y lo reviso!",
    },
    "back_to_chat": {"en": "Back to our chat:", "es": "Volvamos a la charla:"},
    "why_example": {"en": "Correct: «{sentence}»", "es": "Correcto: «{sentence}»"},
    "say_something": {
        "en": "Tell me in {language}:",
        "es": "Dímelo en {language}:",
    },
    "other_language": {
        "en": "I can only teach Spanish and English 🙂 Let's keep going in {language}:",
        "es": "Solo enseño español e inglés 🙂 Sigamos en {language}:",
    },
    "try_in_target": {
        "en": "Try answering in {language} 🙂 For example: «{sample}»",
        "es": "Intenta responder en {language} 🙂 Por ejemplo: «{sample}»",
    },
    "long_paste": {
        "en": "That's a long text! I read the first part.",
        "es": "¡Qué texto tan largo! He leído la primera parte.",
    },
    "next_scenario": {"en": "Ready for a new scene?", "es": "¿Listo para otra escena?"},
    "correction": {
        "en": 'Almost! «{sentence}». Reply "why" for the reason.',
        "es": '¡Casi! «{sentence}». Responde "por qué" si quieres la explicación.',
    },
    "correction_again": {
        "en": "Careful, this one again: «{sentence}». {note}",
        "es": "Ojo, otra vez este: «{sentence}». {note}",
    },
    "scenario_intro": {
        "en": "🎭 {title}. {setting}\nYour goal: {goal}",
        "es": "🎭 {title}. {setting}\nTu objetivo: {goal}",
    },
    "lookup_ask": {
        "en": 'Ask me "how do you say ...?" or "what does ... mean?"',
        "es": 'Pregúntame "¿cómo se dice ...?" o "¿qué significa ...?"',
    },
    "lookup_meaning": {
        "en": "«{word}» means: {translation}",
        "es": "«{word}» significa: {translation}",
    },
    "lookup_say": {
        "en": "{phrase} in {language}: «{word}»",
        "es": "{phrase} en {language}: «{word}»",
    },
    "lookup_unknown": {
        "en": "«{phrase}» isn't in my {language} lessons yet. Try another word, or describe it "
        "with simpler words 🙂",
        "es": "«{phrase}» todavía no está en mis lecciones de {language}. Prueba con otra "
        "palabra, o descríbela con palabras más sencillas 🙂",
    },
    # Plans and payments (agents/subscription.py, tutor/billing.py)
    "plan_status_subscribed": {
        "en": "Plan: {plan} · renews {date} · unlimited lessons.",
        "es": "Plan: {plan} · se renueva el {date} · lecciones ilimitadas.",
    },
    "plan_status_ending": {
        "en": "Plan: {plan} · cancelled, yours until {date} · unlimited lessons.",
        "es": "Plan: {plan} · cancelado, tuyo hasta el {date} · lecciones ilimitadas.",
    },
    "plan_status_granted": {
        "en": "Plan: {plan} (a gift) · until {date} · unlimited lessons.",
        "es": "Plan: {plan} (un regalo) · hasta el {date} · lecciones ilimitadas.",
    },
    "plan_status_free": {
        "en": "Plan: Free · {lessons} of {lessons_limit} lessons left this week · "
        "{voice} of {voice_limit} voice notes left today.",
        "es": "Plan: Gratis · te quedan {lessons} de {lessons_limit} lecciones esta semana · "
        "{voice} de {voice_limit} notas de voz hoy.",
    },
    "plan_status_pack": {
        "en": "Lessons from packs: {count} left.",
        "es": "Lecciones de paquetes: te quedan {count}.",
    },
    "plan_how_to_cancel": {
        "en": 'To cancel: "cancel subscription".',
        "es": 'Para cancelar: "cancelar suscripción".',
    },
    "plan_how_to_upgrade": {
        "en": 'To get more: "upgrade".',
        "es": 'Para tener más: "mejorar plan".',
    },
    "plan_history": {
        "en": "Last payment: {what} on {date}.",
        "es": "Último pago: {what} el {date}.",
    },
    "paywall_lessons": {
        "en": "You've used your {limit} free lessons this week.",
        "es": "Ya usaste tus {limit} lecciones gratis de esta semana.",
    },
    "paywall_lessons_none": {
        "en": "Lessons need a plan or a pack.",
        "es": "Las lecciones necesitan un plan o un paquete.",
    },
    "paywall_voice": {
        "en": "You've used your {limit} free voice notes today.",
        "es": "Ya usaste tus {limit} notas de voz gratis de hoy.",
    },
    "paywall_offer": {
        "en": "Unlimited practice is {offers}.",
        "es": "Práctica ilimitada: {offers}.",
    },
    "paywall_or": {"en": " or ", "es": " o "},
    "paywall_pick": {"en": "Pick one:", "es": "Elige una:"},
    "paywall_later": {
        "en": "Your free lessons come back on Monday.",
        "es": "Tus lecciones gratis vuelven el lunes.",
    },
    "paywall_later_voice": {
        "en": "Free voice notes come back tomorrow; you can still write to me.",
        "es": "Las notas de voz gratis vuelven mañana; puedes seguir escribiéndome.",
    },
    "offer_stars_month": {"en": "{amount} ⭐ a month", "es": "{amount} ⭐ al mes"},
    "offer_stars_pack": {
        "en": "{amount} ⭐ for {lessons} lessons",
        "es": "{amount} ⭐ por {lessons} lecciones",
    },
    "offer_money_month": {"en": "{amount} a month", "es": "{amount} al mes"},
    "offer_money_pack": {
        "en": "{amount} for {lessons} lessons",
        "es": "{amount} por {lessons} lecciones",
    },
    "offer_none": {
        "en": "Payments work in Telegram and WhatsApp; this chat can't take them.",
        "es": "Los pagos funcionan en Telegram y WhatsApp; este chat no puede recibirlos.",
    },
    "offer_unavailable": {
        "en": "I can't take payments right now. Please try again later.",
        "es": "Ahora no puedo recibir pagos. Inténtalo más tarde.",
    },
    "invoice_description_month": {
        "en": "Unlimited lessons and voice notes for 30 days, renewed monthly.",
        "es": "Lecciones y notas de voz ilimitadas durante 30 días, se renueva cada mes.",
    },
    "invoice_description_pack": {
        "en": "{lessons} lessons, with voice notes; they never expire.",
        "es": "{lessons} lecciones, con notas de voz; no caducan.",
    },
    "invoice_tap": {"en": "Tap to pay:", "es": "Toca para pagar:"},
    "invoice_link": {"en": "Pay here: {url}", "es": "Paga aquí: {url}"},
    "paid_subscription": {
        "en": "Thank you! 🎉 {plan} is active until {date}. Practise as much as you like.",
        "es": "¡Gracias! 🎉 {plan} está activo hasta el {date}. Practica todo lo que quieras.",
    },
    "paid_pack": {
        "en": "Thank you! 🎉 {lessons} lessons added; you have {total}.",
        "es": "¡Gracias! 🎉 {lessons} lecciones añadidas; tienes {total}.",
    },
    "paid_renewal": {
        "en": "Your {plan} plan renewed: yours until {date}. Thank you!",
        "es": "Tu plan {plan} se renovó: tuyo hasta el {date}. ¡Gracias!",
    },
    "paid_refund": {
        "en": "Your refund went through. {what}",
        "es": "Tu reembolso está hecho. {what}",
    },
    "paid_refund_pack": {
        "en": "You have {total} lessons from packs.",
        "es": "Tienes {total} lecciones de paquetes.",
    },
    "paid_refund_subscription": {
        "en": "You're back on the free plan.",
        "es": "Vuelves al plan gratis.",
    },
    "paid_ended": {
        "en": 'Your {plan} plan has ended; you\'re on the free plan. Send "upgrade" any time.',
        "es": 'Tu plan {plan} terminó; estás en el plan gratis. Escribe "mejorar plan" '
        "cuando quieras.",
    },
    "paid_granted": {
        "en": "Good news: you've been given {what}. Enjoy!",
        "es": "Buenas noticias: te han regalado {what}. ¡Disfrútalo!",
    },
    "paid_unknown": {
        "en": "I received your payment but couldn't match it to a plan; a person will check it "
        "and get back to you.",
        "es": "Recibí tu pago pero no pude asociarlo a un plan; una persona lo revisará y te "
        "responderá.",
    },
    "cancel_confirm": {
        "en": "Cancel {plan}? You keep it until {date}, then it won't renew.",
        "es": "¿Cancelar {plan}? Lo mantienes hasta el {date} y después no se renueva.",
    },
    "cancel_yes": {"en": "Yes, cancel", "es": "Sí, cancelar"},
    "cancel_no": {"en": "No, keep it", "es": "No, mantenerlo"},
    "cancel_done": {
        "en": "Cancelled. {plan} stays yours until {date}; it won't renew.",
        "es": "Cancelado. {plan} sigue siendo tuyo hasta el {date}; no se renovará.",
    },
    "cancel_kept": {"en": "Great, your plan stays as it is.", "es": "Genial, tu plan sigue igual."},
    "cancel_nothing": {
        "en": "You have no subscription to cancel. Lessons from packs never expire.",
        "es": "No tienes ninguna suscripción que cancelar. Las lecciones de paquetes no caducan.",
    },
    "cancel_failed": {
        "en": "I couldn't cancel just now. Please try again in a few minutes.",
        "es": "No pude cancelar ahora. Inténtalo de nuevo en unos minutos.",
    },
    "cancel_already": {
        "en": "It's already cancelled: {plan} stays yours until {date}.",
        "es": "Ya está cancelado: {plan} sigue siendo tuyo hasta el {date}.",
    },
    "checkout_refused_payload": {
        "en": 'This invoice is no longer valid. Send "upgrade" for a new one.',
        "es": 'Esta factura ya no vale. Escribe "mejorar plan" para recibir una nueva.',
    },
    "checkout_refused_plan": {
        "en": 'This plan is no longer sold. Send "upgrade" to see the current ones.',
        "es": 'Este plan ya no se vende. Escribe "mejorar plan" para ver los actuales.',
    },
    "checkout_refused_amount": {
        "en": 'The price has changed. Send "upgrade" for a new invoice.',
        "es": 'El precio ha cambiado. Escribe "mejorar plan" para recibir una nueva factura.',
    },
    "checkout_refused_currency": {
        "en": 'This invoice is in the wrong currency. Send "upgrade" for a new one.',
        "es": 'Esta factura tiene una moneda equivocada. Escribe "mejorar plan" para otra.',
    },
    "checkout_refused_learner": {
        "en": 'This invoice was made for someone else. Send "upgrade" for your own.',
        "es": 'Esta factura es para otra persona. Escribe "mejorar plan" para la tuya.',
    },
    "language_es": {"en": "Spanish", "es": "español"},
    "language_en": {"en": "English", "es": "inglés"},
    # Classes: joining a teacher's cohort, and what the teacher sends to it.
    "join_done": {
        "en": "You joined {cohort} (teacher {teacher}).",
        "es": "Te uniste a {cohort} (profe {teacher}).",
    },
    "join_moved": {
        "en": "You moved to {cohort} (teacher {teacher}).",
        "es": "Te cambiaste a {cohort} (profe {teacher}).",
    },
    "join_already": {
        "en": "You're already in {cohort} (teacher {teacher}) 🙂",
        "es": "Ya estás en {cohort} (profe {teacher}) 🙂",
    },
    "join_goal": {
        "en": "Your weekly goal: {goal} lessons.",
        "es": "Tu meta semanal: {goal} lecciones.",
    },
    "join_next": {
        "en": 'Send "menu" when you want to start.',
        "es": 'Escribe "menú" cuando quieras empezar.',
    },
    "join_archived": {
        "en": "The class {cohort} is closed now. Ask your teacher for a new code.",
        "es": "La clase {cohort} ya está cerrada. Pide a tu profe un código nuevo.",
    },
    "join_unknown": {
        "en": "I couldn't find a class with the code {code}. Check it with your teacher "
        'and send "join" and the code again.',
        "es": "No encontré ninguna clase con el código {code}. Revísalo con tu profe "
        'y manda "unirme" y el código otra vez.',
    },
    "join_ask_code": {
        "en": 'Send "join" and your class code, like this: join K7M2QX',
        "es": 'Manda "unirme" y el código de tu clase, así: unirme K7M2QX',
    },
    "teacher_message": {
        "en": "From your teacher {teacher}:\n{text}",
        "es": "De tu profe {teacher}:\n{text}",
    },
    "teacher_exercise": {
        "en": "Exercise from your teacher {teacher}:\n{text}\nReply here with your answer.",
        "es": "Ejercicio de tu profe {teacher}:\n{text}\nResponde aquí con tu respuesta.",
    },
}

#: Option labels written in their own language, so a learner can pick before we share one.
LANGUAGE_NAMES_NATIVE: dict[Lang, str] = {"es": "Español", "en": "English"}


def t(key: str, lang: str, **values: object) -> str:
    """The ``key`` sentence in ``lang`` (English when missing), filled with ``values``."""
    entry = CATALOG[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def name_of(kind: str, value: str, lang: str) -> str:
    """The learner-facing name of a code ("code", "GENDER" -> "gender agreement"; "sound",
    "trilled_r" -> "the trilled r (rr)"), the code itself when there is none."""
    key = f"{kind}_{value}"
    return t(key, lang) if key in CATALOG else value


def language_name(code: str, lang: str) -> str:
    """``"es"`` -> "Spanish" for an English reader, "español" for a Spanish one."""
    return t(f"language_{code}", lang)
