# Las palabras de kidvault para madres, padres y tutores, en español.
# Cada mensaje tiene su gemelo en en.ftl con las mismas variables.

## Fechas y horas

clock = { $h24 }:{ $mm }
date-at = { $day } { $mon } { $year }, { $clock } { $zone }
date-on = { $day } de { $month } de { $year }
date-day-month = { $day } { $mon }
date-weekday-day-month = { $wd } { $day } { $mon }
date-day-title = { $weekday }, { $day } de { $month } de { $year }
month = { $m ->
    [1] enero
    [2] febrero
    [3] marzo
    [4] abril
    [5] mayo
    [6] junio
    [7] julio
    [8] agosto
    [9] septiembre
    [10] octubre
    [11] noviembre
   *[12] diciembre
}
month-short = { $m ->
    [1] ene
    [2] feb
    [3] mar
    [4] abr
    [5] may
    [6] jun
    [7] jul
    [8] ago
    [9] sept
    [10] oct
    [11] nov
   *[12] dic
}
weekday = { $d ->
    [1] lunes
    [2] martes
    [3] miércoles
    [4] jueves
    [5] viernes
    [6] sábado
   *[7] domingo
}
weekday-short = { $d ->
    [1] lun
    [2] mar
    [3] mié
    [4] jue
    [5] vie
    [6] sáb
   *[7] dom
}

## En todas las páginas

page-skip = Ir al contenido de la página
nav-label = Principal
nav-household = Hogar
nav-deletions = Eliminaciones
nav-mailbox = Buzón
nav-account = Cuenta
page-signed-in-as = Sesión iniciada como
page-times-in = horas en { $zone }
page-sign-out = Cerrar sesión
page-footer = kidvault guarda los datos de los niños solo con el consentimiento de su madre, padre o tutor, muestra cada acceso y elimina de verdad.
page-footer-retention = Cuánto tiempo guardamos los datos
page-language = Idioma
wait-seconds = { $n ->
    [one] { $n } segundo
   *[other] { $n } segundos
}
wait-minutes = { $n ->
    [one] { $n } minuto
   *[other] { $n } minutos
}

## Lo que se guarda, en palabras

count-items = { $kind ->
    [voice_recording] { $n ->
        [one] { $n } grabación de voz
       *[other] { $n } grabaciones de voz
    }
    [transcript] { $n ->
        [one] { $n } transcripción
       *[other] { $n } transcripciones
    }
    [intent] { $n ->
        [one] { $n } petición entendida
       *[other] { $n } peticiones entendidas
    }
    [embedding] { $n ->
        [one] { $n } huella numérica de voz o texto
       *[other] { $n } huellas numéricas de voz o texto
    }
    [memory] { $n ->
        [one] { $n } dato recordado
       *[other] { $n } datos recordados
    }
    [action_log] { $n ->
        [one] { $n } acción realizada
       *[other] { $n } acciones realizadas
    }
   *[location] { $n ->
        [one] { $n } ubicación
       *[other] { $n } ubicaciones
    }
}
kind-plural = { $kind ->
    [voice_recording] grabaciones de voz
    [transcript] transcripciones
    [intent] peticiones entendidas
    [embedding] huellas numéricas de voz o texto
    [memory] datos recordados
    [action_log] acciones realizadas
   *[location] ubicaciones
}
kind-one = { $kind ->
    [voice_recording] grabación de voz
    [transcript] transcripción
    [intent] petición entendida
    [embedding] huella numérica de voz o texto
    [memory] dato recordado
    [action_log] acción realizada
   *[location] ubicación
}
count-category = { $category ->
    [user_biometric_voice] { $n ->
        [one] { $n } grabación de voz
       *[other] { $n } grabaciones de voz
    }
    [user_content] { $n ->
        [one] { $n } parte de lo que se dijo o se entendió
       *[other] { $n } partes de lo que se dijo o se entendió
    }
    [user_location_precise] { $n ->
        [one] { $n } ubicación precisa
       *[other] { $n } ubicaciones precisas
    }
    [user_location_imprecise] { $n ->
        [one] { $n } ubicación aproximada
       *[other] { $n } ubicaciones aproximadas
    }
   *[user_childrens] { $n ->
        [one] { $n } dato del perfil
       *[other] { $n } datos del perfil
    }
}
scope-name = { $scope ->
    [voice] Voz
    [precise_location] Ubicación precisa
    [approximate_location] Ubicación aproximada
    [training] Entrenamiento de modelos
   *[third_party] Terceros
}
scope-allows = { $scope ->
    [voice] Grabar la voz del niño para responderle y guardar lo que se obtiene de ella (las palabras, lo que se entendió)
    [precise_location] Recoger la ubicación precisa del dispositivo (precisa durante un día, después aproximada)
    [approximate_location] Recoger dónde está el dispositivo con un margen de unos kilómetros (nunca el punto exacto)
    [training] Usar los datos del niño para entrenar o mejorar modelos
   *[third_party] Comunicar los datos del niño a terceros
}
consent-method = { $method ->
    [signed_form] Formulario de consentimiento firmado
    [payment_card] Transacción con tarjeta de pago
    [toll_free_call] Llamada gratuita
    [video_call] Videollamada
    [government_id] Comprobación de documento oficial
    [knowledge_based] Preguntas de verificación
    [face_match] Comparación facial con el documento
    [text_plus] Mensaje de texto con confirmación
   *[email_plus] Correo electrónico con confirmación
}
understood = El asistente entendió: { $what }{ $about }{ $sure }.
understood-about = , sobre «{ $slot }»
understood-sure = { $level ->
    [sure] {" "}(seguro)
    [fairly] {" "}(bastante seguro)
   *[unsure] {" "}(no muy seguro)
}
intent = { $intent ->
    [play_music] poner música
    [play_story] contar un cuento
    [question] responder una pregunta
    [set_timer] poner un temporizador
    [joke] contar un chiste
    [bedtime_routine] empezar la rutina de dormir
    [weather] decir qué tiempo hará
    [spelling] deletrear una palabra
    [math] hacer una cuenta
   *[other] {""}
}
remembered = El asistente recuerda: { $what }.
action-done = El asistente hizo esto: { $what }.
value-nothing = nada
value-bool = { $yes ->
    [yes] sí
   *[no] no
}
category-plural = { $category ->
    [user_biometric_voice] grabaciones de voz
    [user_content] partes de lo que se dijo o se entendió
    [user_location_precise] ubicaciones precisas
    [user_location_imprecise] ubicaciones aproximadas
   *[user_childrens] datos del perfil
}
purpose = { $purpose ->
    [integral] ayuda a prestar el servicio
    [third_party] una empresa independiente, solo si permite compartir
   *[training] entrena o mejora modelos, solo si lo permite
}

## Enlaces entre las páginas de un niño

back-household = ← Hogar
link-voice-history = Historial de voz
link-activity = Actividad y registro de accesos
link-consent = Consentimiento
link-locations = Ubicaciones
link-devices = Dispositivos
link-export = Exportar (zip)
link-export-everything = Exportar todo (zip)
link-delete-child = Eliminar a este niño…
link-seen = Quién lo ha visto
link-shared = Quién recibió datos

## El hogar

household-title = Su hogar
household-dormant = Sin usar desde hace mucho: este perfil y todos sus datos se eliminarán el { $date }.
household-keep-profile = Conservar este perfil
household-kept = Se conserva aunque no se use (desde el { $date }).
household-stop-keeping = Dejar de conservarlo
household-dormant-from = Si no se usa, quedará inactivo el { $date }.
household-keep-unused = Conservarlo aunque no se use
household-never = nunca
household-born = Año de nacimiento: { $year }
household-badge-renew = hay que renovar el consentimiento
household-badge-waiting = esperando el consentimiento
household-badge-active = activo
household-badge-deleting = eliminándose
household-in-force = Consentimiento vigente:
household-nothing-collected = no se puede recoger nada
household-last-used = Último uso de un dispositivo: { $when }
household-empty = Todavía no hay perfiles de niños. Añada uno abajo.
household-add = Añadir un niño
household-add-nothing-yet = No se recoge nada de un niño nuevo hasta que usted dé un consentimiento verificable.
household-name = Nombre o apodo
household-birth-year = Año de nacimiento
household-add-button = Añadir al niño

## Lo que se guarda, y el consentimiento

kept-not = No se guarda
kept-days = { $n ->
    [one] Se guarda 1 día y después se elimina automáticamente
   *[other] Se guarda { $n } días y después se elimina automáticamente
}
kept-title = Qué guardamos de { $name }, por qué y durante cuánto tiempo
kept-set-by = Lo fijan nuestra
kept-policy = política de conservación
kept-and-choice = y su elección de eliminación automática en la página del hogar. Puede eliminar cualquier cosa antes.
consent-title = Consentimiento para { $name }
consent-sent-title = Confirmar por correo electrónico
consent-sent-check = Revise su correo electrónico
consent-sent-text = Enviamos un enlace de confirmación a { $email }. No se recoge nada de { $name } con este consentimiento hasta que lo abra (en 48 horas como máximo). También está en su
consent-sent-mailbox = buzón
consent-back = Volver al consentimiento
consent-notice-changed = Nuestro aviso de privacidad cambió (ahora versión { $version }). No se recoge nada hasta que vuelva a dar su consentimiento.
consent-in-force = Vigente ahora
consent-nothing = No se puede recoger nada de este niño.
consent-withdraw = Retirar
consent-withdraw-when = La retirada se aplica en la siguiente petición del dispositivo.
consent-give = Dar el consentimiento
consent-under-notice = Según el aviso de privacidad versión { $version }. Cada permiso es una elección aparte; solo la voz viene activada, porque el asistente no puede responder sin ella.
consent-method-label = Cómo verificó que es la madre, el padre o el tutor
consent-evidence = Referencia de la verificación (número de formulario, de llamada o de transacción)
consent-may-do = Lo que kidvault puede hacer
consent-record = Registrar el consentimiento
consent-history = Historial
consent-none-yet = Todavía no hay consentimiento registrado.
consent-col-given = Dado
consent-col-method = Método
consent-col-notice = Aviso
consent-col-permissions = Permisos
consent-withdrawn-on = { $scope } (retirado el { $when })
confirm-title = Confirmar el consentimiento
confirm-heading = Confirme su consentimiento
confirm-text = Pidió dar su consentimiento por correo electrónico. Confírmelo para que kidvault pueda recoger datos con él.
confirm-button = Confirmar el consentimiento
recipients-title = Quién recibe los datos de { $name }
recipients-intro = De lo que kidvault guarda sobre { $name }, nadie fuera de kidvault recibe nada, salvo las empresas de abajo, y solo lo que permiten los permisos de arriba.
recipients-see = Ver lo que ha recibido cada una
recipients-none = Ninguna empresa fuera de kidvault recibe nada.
recipients-voice-or-location = Voz o ubicación (la que recoja esos datos)
recipients-receives = recibe { $what } ahora, porque usted lo permitió
recipients-new = es nueva desde que usted aceptó: no recibe nada hasta que vuelva a dar su consentimiento
recipients-not-allowed = no recibe nada a menos que permita «{ $needs }»

## El historial de voz de un niño

timeline-title = Historial de voz de { $name }
timeline-delete-device = Eliminar todo lo que envió { $device }…
timeline-delete-filter = Eliminar todo lo que selecciona este filtro…
timeline-empty = No hay nada grabado aquí.
timeline-delete-day = Eliminar este día…
timeline-delete-by-kind = Eliminar por tipo
timeline-delete-by-kind-text = Cada opción elimina también todo lo que se obtuvo de lo que elimina.
timeline-delete-all-of = Eliminar { $kind }…
timeline-recording-of = Grabación del { $when }
timeline-auto-deleted = Se eliminará automáticamente el { $date }, junto con las palabras y todo lo que se obtuvo de ella.
timeline-file-recording = grabacion
timeline-download = Descargar la grabación
timeline-embedding = Números calculados a partir de la grabación para reconocer peticiones (sin palabras).
timeline-delete-item-label = Eliminar este elemento ({ $kind }) y lo que se obtuvo de él
timeline-delete-item = Eliminar…
pages-label = Páginas
pages-newer = ← Más recientes
pages-older = Más antiguas →
filter-show = Mostrar
filter-everything = Todo
filter-from = Desde
filter-to = Hasta
filter-device = Dispositivo
filter-all-devices = Todos los dispositivos
filter-words = Palabras dichas
filter-words-example = canción de la luna

## Eliminar

scope-child = el perfil del niño, sus claves, consentimientos, dispositivos y todos sus datos
scope-item = una grabación (u otro registro) y todo lo que se obtuvo de ella
scope-all-data = todos los datos
scope-range-on = {" "}del { $day }
scope-range-from-to = {" "}del { $from } al { $to }
scope-range-since = {" "}desde el { $from }
scope-range-up-to = {" "}hasta el { $to }
scope-sent-by = {" "}que envió { $device }
scope-sent-by-one = {" "}que envió un dispositivo
scope-items = { $what }{ $sent }{ $range }, y todo lo que se obtuvo de ello
delete-title = Confirmar la eliminación
delete-heading = ¿Eliminar estos datos de { $name }: { $what }?
delete-will = Esto eliminará para siempre:
delete-nothing = No coincide nada: no hay nada que eliminar.
delete-child-profile = el perfil, los consentimientos y los dispositivos vinculados de { $name }
delete-child-keys = las claves de cifrado del niño, destruidas de inmediato
delete-total = { $n ->
    [one] 1 elemento en total.
   *[other] { $n } elementos en total.
}
delete-among = Entre ello, lo que dijo { $name }:
delete-more = …y más.
delete-keys-erased = Primero se destruyen las claves de los datos y se borran del disco, así que nada se puede volver a leer de nada de lo que guardamos
delete-keys-locked = Primero se destruyen las claves de los datos, así que nada se puede volver a leer a través de kidvault (la base de datos conserva restos cerrados de ellas hasta su limpieza habitual)
delete-keys-sealed = Primero se destruyen las claves de los datos, así que nada se puede volver a leer a través de kidvault. La base de datos puede conservar restos cerrados de ellas durante un tiempo; en { $days } días no existirá en ningún lugar nada que pueda abrirlos
delete-then = ; después se borran los datos cifrados, se avisa a cada servicio que tenga una copia para que la elimine y usted recibe un recibo firmado. Las copias de seguridad hechas antes de hoy solo contienen copias cerradas, y dejan de poder abrirse el
delete-then-keys = , cuando se destruyen sus propias claves.
delete-cannot-undo = Esto no se puede deshacer.
delete-button = Eliminar para siempre
delete-cancel = Cancelar
delete-one-item = { $kind } del { $when }, y todo lo que se obtuvo de ella
delete-one-item-said = { $kind } del { $when }: «{ $said }», y todo lo que se obtuvo de ella
deletions-title = Eliminaciones
deletions-intro = Cada eliminación que usted (o la política de conservación, o su elección de eliminación automática) inició, y en qué punto está. Una eliminación terminada tiene un recibo firmado: un archivo que cualquiera puede comprobar que escribió kidvault y que no ha cambiado desde entonces.
deletions-none = Todavía no hay eliminaciones.
deletions-col-requested = Pedida
deletions-col-what = Qué
deletions-col-why = Por qué
deletions-col-status = Estado
deletions-col-receipt = Recibo
deletions-done = terminada
deletions-in-progress = en curso
deletions-download-receipt = Descargar el recibo
deletion-reason = { $reason ->
    [guardian] usted lo pidió
    [retention] nuestra política de conservación
    [dormancy] el perfil no se usó durante mucho tiempo
    [restore] repetida tras restaurar una copia de seguridad
   *[auto_delete] su elección de eliminación automática
}
deletion-title = Eliminación
deletion-back = ← Eliminaciones
deletion-asked = Pedida el { $when } · por qué: { $why }
deletion-step = { $step ->
    [requested] Pedida
    [resolved] Encontrado todo lo que se obtuvo de ello
    [shredded_erased] Claves destruidas y borradas del disco: ilegible desde ahora
    [shredded] Claves destruidas: ilegible desde ahora
    [rotated] Todo lo demás conserva sus propias claves: no se toca nada más
    [purged] Datos cifrados borrados
    [dispatched] Avisados los servicios que tienen copias
    [acknowledged] Todos los servicios lo confirmaron
   *[completed] Terminada, recibo firmado
}
deletion-services = Servicios que tienen copias
deletion-models = Modelos entrenados con estos datos
deletion-task-confirmed = confirmado el { $when }
deletion-task-overdue = esperando, con retraso desde el { $when }
deletion-task-waiting = esperando (plazo: { $when })
deletion-model-retrained = reentrenado sin ellos el { $when }
deletion-model-destroyed = destruido el { $when }
deletion-model-late = aún no reentrenado ni destruido, con retraso desde el { $when }
deletion-model-due = se reentrenará sin ellos o se destruirá antes del { $when }
deletion-unreadable-since = Ilegible en todo lo que guardamos desde el { $when }. Las copias de seguridad anteriores dejan de poder abrirse el { $backups }.
deletion-download-receipt = Descargar el recibo firmado
receipt-signed = Este recibo está firmado por el registro de kidvault. Descárguelo para guardarlo; cualquiera puede comprobarlo con la clave publicada del registro.
receipt-valid = Comprobado en su navegador: válido. El registro de kidvault lo firmó como el registro { $index } de { $size }, y este recibo es exactamente lo que registró.
receipt-invalid = Comprobado en su navegador: NO válido.
receipt-unchecked = Este navegador no pudo comprobar el recibo: descárguelo y compruébelo con la clave pública del registro.
receipt-why-signature = La firma del registro no coincide con la clave publicada de kidvault.
receipt-why-checkpoint = El punto de control no es de este registro.
receipt-why-proof = La prueba es demasiado larga.
receipt-why-absent = El recibo no está en el registro.
receipt-why-text = El texto del recibo no es lo que registró el registro.

## Qué pasó con los datos de un niño

activity-title = Qué pasó con los datos de { $name }
activity-intro = Todo lo que pasó con los datos de { $name }, lo más reciente primero: consentimientos, elecciones, eliminaciones y cada vez que alguien los miró. Cada línea está firmada y se guarda donde nadie, ni siquiera kidvault, puede cambiarla ni quitarla sin que se note: descargue la copia firmada de una línea para comprobarla usted mismo.
activity-hide-mine = Ocultar sus propias consultas
activity-mine-hidden = Sus propias consultas ({ $n }) están ocultas.
activity-show-mine = Mostrarlas
activity-empty = Todavía no ha pasado nada más.
activity-signed-copy = Copia firmada
activity-signed-copy-label = Copia firmada de esta línea
pages-of = Página { $page } de { $pages }
actor = { $who ->
    [you] Usted
    [other_parent] Otra persona adulta de su hogar
    [staff] Alguien de kidvault
    [device] Un dispositivo vinculado
    [retention] El proceso de conservación de kidvault
    [dormancy] La revisión de perfiles sin usar de kidvault
   *[kidvault] kidvault
}
looked-at = { $what ->
    [profile] el perfil de { $name }
    [timeline] el historial de voz de { $name } ({ $n ->
        [one] 1 registro
       *[other] { $n } registros
    })
    [items] la lista de grabaciones y registros de { $name }
    [item] uno de los registros de { $name }
    [content] una de las grabaciones de { $name } o lo que dijo
    [devices] los dispositivos de { $name }
    [export] todo lo que se guarda sobre { $name }, para descargarlo
   *[data] los datos de { $name }
}
looked-kind = { $n ->
    [one] { $kind ->
        [voice_recording] una grabación de voz
        [transcript] una transcripción
        [intent] una petición entendida
        [embedding] una huella numérica de voz o texto
        [memory] un dato recordado
        [action_log] una acción realizada
       *[location] una ubicación
    } de { $name }
   *[other] { $n } { $kind ->
        [voice_recording] grabaciones de voz
        [transcript] transcripciones
        [intent] peticiones entendidas
        [embedding] huellas numéricas de voz o texto
        [memory] datos recordados
        [action_log] acciones realizadas
       *[location] ubicaciones
    } de { $name }
}
act-looked = { $who } miró { $what }.
act-consent-given = { $who } dio su consentimiento ({ $how }) para: { $scopes }.
act-consent-withdrawn = { $who } retiró el consentimiento para: { $scopes }.
act-deletion-completed = Se completó una eliminación ({ $why }): { $n ->
    [one] 1 elemento eliminado
   *[other] { $n } elementos eliminados
} para siempre.
act-keys-destroyed = Se destruyeron las claves de lo eliminado: nunca se podrá volver a leer.
act-retention-expired = Se eliminaron datos que superaban el tiempo que los guarda nuestra política.
act-dormancy-notice = El perfil de { $name } no se usó durante mucho tiempo: se le avisó de que se eliminará el { $date }.
act-keep-profile = { $who } decidió conservar el perfil de { $name } aunque no se use.
act-stop-keeping = { $who } dejó de conservar el perfil de { $name } cuando no se usa.
act-keep-policy = { $who } decidió guardar las grabaciones el máximo que permite nuestra política.
act-keep-none = { $who } decidió no guardar las grabaciones de { $name }.
act-keep-days = { $who } decidió guardar cada grabación { $days } días.
act-kept-changed = { $who } cambió cuánto tiempo se guardan los datos de { $name }.
act-household-closed = Se cerró la cuenta y se eliminó todo lo que contenía.
act-rollback = Algunos de estos registros se perdieron al restaurar una copia de seguridad.
act-disclosed = { $processor } recibió { $n ->
    [one] 1 registro
   *[other] { $n } registros
}{ $why }.
act-dataset = Algunos datos de { $name } entraron en un conjunto de entrenamiento, como permite su consentimiento.
act-model = Un modelo entrenado con datos eliminados después se reentrenó sin ellos o se destruyó.
act-support-granted = { $who } permitió al equipo de asistencia de kidvault ver los datos de { $name } hasta el { $until }.
act-support-revoked = { $who } retiró al equipo de asistencia de kidvault el acceso a los datos de { $name }.
act-reviewed = { $justified ->
    [yes] Nuestro responsable de privacidad revisó una consulta del personal de kidvault y la consideró justificada.
   *[no] Nuestro responsable de privacidad revisó una consulta del personal de kidvault y consideró que no estaba justificada.
}
act-policy-changed = Cambiaron las normas de kidvault para el acceso del personal.

## Eliminación automática

auto-delete-label = Eliminar grabaciones automáticamente
auto-delete-save = Guardar
auto-delete-choice = { $choice ->
    [never] No guardar grabaciones (responder y olvidar)
    [7] Guardar cada grabación 7 días
    [90] Guardar cada grabación 3 meses
    [548] Guardar cada grabación 18 meses
   *[policy] Guardar cada grabación el máximo que permite nuestra política
}
auto-delete-too-long = (más de lo que permite nuestra política: { $n } días)
auto-delete-policy-days = ({ $n } días)
auto-delete-now-none = Las grabaciones no se guardan: el dispositivo responde y olvida.
auto-delete-now-policy = Cada grabación se guarda { $n } días (lo máximo que permite nuestra política) y después se elimina automáticamente.
auto-delete-now-days = Cada grabación se guarda { $n } días y después se elimina automáticamente.

## Dispositivos y vinculación

devices-title = Dispositivos
devices-heading = Dispositivos de { $name }
devices-paired = { $device } está vinculado
devices-paired-text = Ya puede enviar las grabaciones de { $name }, según el consentimiento que usted dio. Puede revocarlo aquí en cualquier momento.
devices-none = Todavía no hay ningún dispositivo vinculado.
devices-col-device = Dispositivo
devices-col-paired = Vinculado
devices-col-status = Estado
devices-revoked = revocado el { $when }
devices-active = activo
devices-revoke = Revocar
devices-revoke-label = Revocar { $device }
devices-revoke-when = Un dispositivo revocado se rechaza desde su siguiente petición.
pair-title = Vincular un dispositivo
pair-text = Encienda el dispositivo: muestra (o dice) un código de 8 letras. Escríbalo aquí. Nunca tendrá que escribir una contraseña ni una clave larga en el dispositivo.
pair-code = El código del dispositivo
pair-name = Póngale un nombre
pair-name-example = Altavoz de la cocina
pair-button = Vincular
pair-too-many = demasiados códigos incorrectos: vuelva a intentarlo dentro de { $wait }
pair-no-child = Primero añada un niño en la página del hogar: cada dispositivo se vincula a un niño.
pair-no-child-link = Ir a la página del hogar
pair-whose = ¿De quién es el dispositivo?

## Buscar en lo que se dijo

search-said = «{ $words }»: { $n ->
    [0] no se dijo en estas fechas
    [one] se dijo una vez
   *[other] se dijo { $n } veces
}
search-said-many = «{ $words }»: se dijo { $n } veces o más (se muestran las más recientes)
search-only-newest = Solo se buscó en las { $n } frases más recientes: elija fechas para buscar más atrás.
search-back = Volver a todo el historial de voz

## Quién recibió datos

shared-title = Quién recibió los datos de { $name }
shared-intro = Cada vez que datos que kidvault guarda sobre { $name } van a una empresa fuera de kidvault, se anota aquí y en el registro a prueba de manipulaciones. Una empresa que ayuda a prestar el servicio recibe solo lo que usted nos deja recoger; cualquier otra no recibe nada a menos que usted lo permitiera en la página de consentimiento, y retirar ese permiso le pide que elimine lo que recibió.
shared-nobody = Nadie fuera de kidvault ha recibido datos de { $name }.
shared-with = Compartido con
shared-nobody-else = Nadie más ha recibido lo que kidvault guarda sobre { $name }.
shared-received-nothing = No recibieron nada
shared-received = ({ $purpose }) recibió { $what }, del { $from } al { $to }.
shared-asked = { $why ->
    [deleted] Se le pidió eliminar lo que usted eliminó
   *[withdrew] Se le pidió eliminar todo lo que recibió, porque usted retiró su permiso
} el { $when }: { $state }.
shared-confirmed = confirmó la eliminación el { $when }
shared-late = todavía no lo ha confirmado y va con retraso (el plazo era el { $when })
shared-waiting = esperando a que lo confirme (plazo: { $when })

## Quién ha visto los datos de un niño

seen-title = Quién ha visto los datos de { $name }
seen-shared-link = Compartido con empresas
seen-full-record = Registro completo
seen-show = Mostrar:
seen-everyone = todos
seen-your-household = su hogar
seen-staff = personas de kidvault
seen-last-days = últimos { $n } días
seen-all-time = desde siempre
seen-period = {" "}en los últimos { $n } días
seen-former-member = una persona que ya no está en su hogar
seen-household-title = Su hogar
seen-household-none = Nadie de su hogar miró las grabaciones, palabras o lugares de { $name }{ $period }.
seen-and = { $rest } y { $last }
seen-household = { $people }{ $household ->
    [yes] {" "}(su hogar)
   *[no] {""}
} miró { $n } de las grabaciones, palabras o lugares de { $name }{ $period }.
seen-staff-title = Personas de kidvault
seen-no-staff = Nadie de kidvault miró los datos de { $name }{ $period }.
seen-older = Más antiguas
seen-system-title = Los procesos propios de kidvault
seen-system = El proceso de conservación de kidvault leyó { $n } de los lugares precisos de { $name }{ $period } para hacerlos aproximados, como dice nuestra política. Ninguna persona los vio.
seen-no-one-else = Nadie más. Las empresas fuera de kidvault que recibieron datos de { $name } aparecen en
staff-look = { $who } (caso { $ticket }{ $why }{ $permission }) { $what } { $when }.
staff-role = { $role ->
    [support] Asistencia
    [trust_and_safety] Confianza y seguridad
    [ml_engineer] Una persona experta en aprendizaje automático
    [sre] Una persona que mantiene kidvault en marcha
    [privacy_officer] El responsable de privacidad
    [auditor] Un auditor
    [admin] Un administrador
   *[someone] Alguien de kidvault
}
staff-purpose = { $purpose ->
    [support_ticket] para responder a una petición de asistencia
    [safety_report] para atender un aviso de seguridad
    [legal_hold] por una obligación legal
    [debugging] para corregir un fallo
   *[audit] para una auditoría
}
staff-with-permission = , con su permiso hasta el { $until }
staff-break-glass = , sin su permiso: se saltó las normas habituales, y nuestro responsable de privacidad revisa cada consulta así
staff-on = el { $day }
staff-from-to = del { $from } al { $to }
staff-proof = Cómo sabemos que este registro no se alteró: registro
act-reviewed-it = { $justified ->
    [yes] El responsable de privacidad la revisó y la consideró justificada.
    [no] El responsable de privacidad la revisó y consideró que no estaba justificada.
   *[pending] El responsable de privacidad todavía no la ha revisado.
}
staff-looked-at = { $what ->
    [voice_recording] escuchó { $n ->
        [one] una grabación
       *[other] { $n } grabaciones
    }
    [intent] leyó { $n ->
        [one] una
       *[other] { $n }
    } de las cosas que entendió el asistente
    [transcript] leyó { $n ->
        [one] una
       *[other] { $n }
    } de las cosas que dijo { $name }
    [memory] leyó { $n ->
        [one] uno
       *[other] { $n }
    } de los datos que el asistente recordaba sobre { $name }
    [action_log] leyó { $n ->
        [one] una
       *[other] { $n }
    } de las cosas que el asistente hizo para { $name }
    [location] vio { $n ->
        [one] un lugar
       *[other] { $n } lugares
    }
    [metadata] vio cuánto guarda kidvault sobre { $name } (cantidades y fechas, no lo que se dijo)
    [list] vio la lista de lo que kidvault guarda sobre { $name } (fechas y tipos, no lo que se dijo)
   *[other] leyó { $n ->
        [one] un elemento
       *[other] { $n } elementos
    } que kidvault guarda sobre { $name }
}
support-title = Acceso de asistencia a los datos de { $name }
support-on = El equipo de asistencia puede ver las grabaciones, palabras y lugares de { $name } hasta el { $until }, para ayudarle con una pregunta que usted hizo. Cada consulta aparece abajo.
support-end = Terminar ahora el acceso de asistencia
support-off = El equipo de asistencia no puede ver las grabaciones, palabras ni lugares de { $name }. Si pide ayuda a nuestro equipo de asistencia, puede dejarles mirar durante el tiempo que elija; puede terminarlo en cualquier momento.
support-how-long = Durante cuánto tiempo
support-hours = { $n ->
    [one] 1 hora
   *[other] { $n } horas
}
support-days = { $n ->
    [one] 1 día
   *[other] { $n } días
}
support-let = Dejar que asistencia vea los datos de { $name }
support-earlier-ended = Lo permitió el { $from } y lo terminó el { $to }.
support-earlier-expired = Lo permitió el { $from }; terminó el { $to }.

## Iniciar sesión, la cuenta, el buzón

sign-in = Iniciar sesión
sign-in-no-account = ¿Todavía no tiene cuenta?
sign-in-create = Cree una
sign-in-wrong = el correo electrónico o la contraseña no son correctos
sign-in-too-many = demasiados intentos fallidos: vuelva a intentarlo dentro de { $wait }
account-email = Correo electrónico
account-password = Contraseña
account-code = Código de verificación (solo si el inicio de sesión en dos pasos está activado)
account-your-name = Su nombre
account-new-password = Contraseña (12 caracteres o más)
sign-up-title = Crear una cuenta
sign-up-button = Crear la cuenta
sign-up-have-account = ¿Ya tiene una cuenta?
sign-up-too-many = se crearon demasiadas cuentas nuevas desde esta red: vuelva a intentarlo dentro de { $wait }
sessions-title = Sesiones iniciadas
sessions-text = Cada navegador y aplicación con sesión iniciada en su cuenta. Revoque las que no reconozca.
sessions-col-where = Dónde
sessions-col-signed-in = Inicio de sesión
sessions-col-expires = Caduca
sessions-this-browser = (este navegador)
sessions-sign-out-here = Cerrar sesión aquí
session-label = { $browser } en { $device }
session-word = { $key ->
    [A_browser_or_app] Un navegador o una aplicación
    [an_iPhone] un iPhone
    [an_iPad] un iPad
    [a_Chromebook] un Chromebook
    [a_Mac] un Mac
   *[other] { $name }
}
account-yours = Su cuenta
account-back = Volver a la cuenta
invite-title = Otra persona tutora
invite-text = Invite a otra madre, padre o tutor legal: tendrá su propio inicio de sesión y verá y gestionará los mismos niños. El enlace funciona una vez, durante 7 días.
invite-create = Crear un enlace de invitación
invite-page-title = Invitar a una persona tutora
invite-link = Enlace de invitación
invite-send = Envíe este enlace a la otra persona. Funciona una vez, durante 7 días, y solo se muestra ahora.
invite-once = Un enlace de invitación solo se muestra una vez. Si no lo copió, cree otro en la página de la cuenta.
join-title = Unirse a un hogar
join-text = Le invitaron a unirse a un hogar en kidvault como persona tutora.
join-button = Unirse al hogar
close-title = Cerrar la cuenta
close-deletes = Cerrar la cuenta elimina
close-every-child = todos los perfiles de niños del hogar y todos sus datos
close-rest = : grabaciones, transcripciones, todo lo que se obtuvo de ellas, ubicaciones, consentimientos y dispositivos. Sus claves se destruyen de inmediato. Podrá seguir iniciando sesión durante { $days } días para descargar los recibos de eliminación; después también se elimina su cuenta.
close-password = Su contraseña, para confirmar
close-button = Cerrar la cuenta y eliminarlo todo
zone-title = Zona horaria
zone-shown = Las horas se muestran en { $zone } ({ $abbrev }).
zone-utc = Las horas se muestran en UTC hasta que elija su zona horaria.
zone-days = Los días del historial de voz, y «eliminar este día», empiezan a medianoche en esta zona.
zone-yours = Su zona horaria
mailbox-intro = Avisos que kidvault le envió: confirmaciones de eliminación y avisos de consentimiento y de conservación.
mailbox-none = Todavía no hay avisos.
mailbox-delivered = entregado el { $when } ({ $via })
mailbox-via = { $via ->
    [mailbox] buzón
    [email] correo electrónico
   *[other] { $via }
}
mailbox-sending = enviándose
mailbox-open = Abrirlo en el portal
totp-title = Inicio de sesión en dos pasos
totp-on = El inicio de sesión en dos pasos está activado
totp-on-text = Para iniciar sesión hace falta un código de su aplicación de autenticación (o uno de sus códigos de recuperación).
totp-password-off = Su contraseña, para desactivarlo
totp-turn-off = Desactivar el inicio de sesión en dos pasos
totp-off-text = Pedir un código de una aplicación de autenticación además de su contraseña.
totp-set-up = Configurar el inicio de sesión en dos pasos
totp-qr-label = Código QR para su aplicación de autenticación
totp-add = Añada kidvault a su aplicación de autenticación
totp-scan = Escanee este código con la aplicación:
totp-type-key = O escriba esta clave en ella (los espacios no importan):
totp-on-phone = En el teléfono que tiene la aplicación, también puede
totp-open-link = abrir el enlace de configuración
totp-code = El código de 6 cifras que muestra ahora la aplicación
totp-turn-on = Activar
recovery-title = Códigos de recuperación
recovery-file = Códigos de recuperación de kidvault para { $email }
recovery-keep = Guarde estos códigos de recuperación en un lugar seguro. Cada uno le permite iniciar sesión una vez si pierde la aplicación. Solo se muestran ahora.
recovery-download = Descargarlos
policy-title = Cuánto tiempo guardamos los datos de su hijo o hija
policy-notice-version = Versión del aviso de consentimiento vigente:
policy-notice-changes = . Cuando esta política cambie, le pediremos de nuevo su consentimiento.
policy-portal = Portal para madres, padres y tutores

## Páginas de error

error-title = { $status ->
    [400] Petición incorrecta
    [401] No autorizado
    [403] Prohibido
    [404] No encontrado
    [409] Conflicto
    [410] Ya no existe
    [413] Demasiado grande
    [422] No se puede procesar
    [429] Demasiadas peticiones
    [503] Servicio no disponible
   *[500] Error
}
error-code = Código:
error-back = Volver al hogar

## Lugares

places-title = Ubicaciones de { $name }
places-intro = Dónde estuvo el dispositivo de { $name }. Un lugar preciso se mantiene preciso durante { $hours } horas; después solo se guarda la zona que lo rodea (unos 5 km).
places-none = No hay ubicaciones registradas aquí.
places-delete-all = Eliminar todas las ubicaciones…
places-col-where = Dónde
places-col-when = Cuándo
places-col-exact = Precisión
places-approximate = Aproximada
places-precise-until = Precisa hasta el { $when }; después, aproximada
places-area = En algún punto de esta zona de unos { $km } km, alrededor de { $lat }, { $lon }
places-point = En { $lat }, { $lon } (con un margen de { $m } m)
places-once = Una vez, el { $when }
places-times-day = { $n } veces entre las { $from } y las { $to } del { $day }
places-times = { $n } veces entre el { $from } y el { $to }
places-map-label = Mapa de { $n } lugares, de unos { $w } por { $h } km
places-map-legend = unos { $w } km × { $h } km, el norte arriba; los círculos sombreados son zonas aproximadas

## Avisos (el buzón y el correo electrónico). Los niños y las horas se
## escriben para cada lector; el correo dice «su hijo o hija» en vez del nombre.

notice-your-child = su hijo o hija
notice-consent-subject = Confirme su consentimiento
notice-consent-body =
    Dio su consentimiento en kidvault, según el aviso de privacidad { $notice }, para { $child }: { $scopes }.

    Para confirmarlo, inicie sesión y abra este enlace antes del { $until }:

    /portal/consent/confirm/{ $token }

    Hasta entonces no se recoge nada con él. Si no fue usted, ignore este mensaje.
notice-deletion-subject = Su eliminación está completa
notice-what-item = una grabación o un registro, y todo lo que se obtuvo de ello
notice-what-items = una selección de los datos de { $child }
notice-what-child = el perfil de un niño, sus claves y todos sus datos
notice-nothing-else = nada más
notice-deletion-body =
    La eliminación que pidió está completa: { $what }.

    Por qué: { $why }
    Pedida el: { $requested }
    Eliminado: { $items } en total ({ $counted })

    Las claves que lo abrían se destruyeron, los datos cifrados se borraron y cada servicio que tenía una copia confirmó su eliminación. El recibo firmado, que cualquiera puede comprobar, está en la página de esta eliminación en el portal:

    /portal/deletions/{ $id }
notice-staff-subject = Alguien de kidvault miró los datos de su hijo o hija sin el permiso habitual
notice-staff-body = { $role } abrió los datos de { $child } { $purpose } (caso { $ticket }) el { $at }, saltándose las normas de acceso habituales con un motivo por escrito. Nuestro responsable de privacidad revisa cada acceso así y decide si estaba justificado; la decisión aparecerá en la página «Quién lo ha visto» del portal, junto con cada acceso a los datos.
notice-since-created = desde que se creó
notice-dormant-subject = Se eliminará un perfil de niño porque no se usa
notice-dormant-body =
    El perfil de { $name } no se ha usado en ningún dispositivo durante { $days } días (último uso: { $since }).

    Según nuestra política de conservación se eliminará, con todos sus datos (grabaciones, transcripciones y todo lo que se obtuvo de ellas, ubicaciones, consentimientos y dispositivos), el { $date }.

    Para conservarlo, abra el portal y elija «Conservar este perfil»:

    /portal

    Si el niño vuelve a usar un dispositivo antes de esa fecha, no se elimina nada.
notice-reminder-subject = Recordatorio: pronto se eliminará un perfil de niño sin usar
notice-reminder-body =
    El perfil de { $name }, que no se ha usado, se eliminará con todos sus datos el { $date }.

    Para conservarlo, abra el portal y elija «Conservar este perfil»:

    /portal

## La exportación que descarga una madre, un padre o un tutor

export-title = Lo que dijo { $name }: exportación de kidvault
export-heading = Lo que dijo { $name }
export-intro = Exportado el { $when }. Cada grabación que kidvault guardaba, la más reciente primero, con las palabras que se oyeron en ella. Todo lo demás está en los otros archivos de esta carpeta (README.txt dice cuál es cuál).
export-none = No se guarda ninguna grabación.
export-readme =
    Todo lo que kidvault guarda sobre { $name } (niño { $id }), exportado el { $at }.

    index.html: ábralo primero: las grabaciones de cada día, que se pueden escuchar aquí, con las palabras que se oyeron.
    manifest.json: cada elemento: tipo, categoría de datos, cuándo se grabó y se recibió, el dispositivo, de qué se obtuvo y qué se obtuvo de él, su archivo.
    audio/: grabaciones de voz (WAV).
    transcripts/: transcripciones (texto sin formato, UTF-8).
    derived/: otros elementos obtenidos (JSON): peticiones entendidas, datos recordados, huellas numéricas.
    locations.geojson: ubicaciones (puntos GeoJSON; precisión en metros).
    locations.csv: lo mismo, como tabla.
    consents.json: cada consentimiento que dio, con su método, referencia de verificación, versión del aviso y permisos, y cualquier retirada.
    disclosures.json: quién fuera de kidvault recibió datos del niño: cada empresa, por qué, cuántos elementos de cada tipo y cuándo, y cada petición para eliminarlos.

    Aviso de privacidad vigente: versión { $notice }. Esta exportación quedó anotada en el registro de accesos del niño.
    Las horas de los archivos de datos están en UTC (RFC 3339). Este archivo se creó en memoria y se envió por partes; kidvault no guardó ninguna copia.

## Crear una cuenta por correo electrónico

sign-up-by-mail = Le enviaremos por correo electrónico un enlace para terminar de crear su cuenta.
sign-up-mail-failed = No pudimos enviar el correo electrónico en este momento, así que no se creó nada. Vuelva a intentarlo dentro de unos minutos.
sign-up-sent-text = Enviamos un correo electrónico a la dirección que indicó. Si puede tener una cuenta nueva, el correo contiene un enlace para terminar de crearla (funciona una vez, durante 24 horas); si ya tiene una, el correo lo dice.
sign-up-sent-nothing = No pasa nada más hasta que se abra el enlace. Si no llega ningún correo, revise la dirección y vuelva a registrarse.
sign-up-finish-title = Terminar de crear su cuenta
sign-up-finish-text = Su dirección de correo electrónico está confirmada. Cree su cuenta de kidvault para ver y gestionar lo que se guarda sobre sus hijos.
sign-up-finish-button = Crear mi cuenta
signup-confirm-subject = Termine de crear su cuenta de kidvault
signup-confirm-body =
    Alguien, probablemente usted, pidió crear una cuenta de kidvault con esta dirección de correo electrónico.

    Para terminar, abra este enlace antes del { $until }:

    { $link }

    Si no fue usted, ignore este mensaje: no se crea ninguna cuenta.
signup-exists-subject = Alguien intentó crear una cuenta de kidvault con su dirección
signup-exists-body =
    Alguien, probablemente usted, intentó crear una cuenta nueva de kidvault con esta dirección de correo electrónico. Ya tiene una, y no se cambió nada.

    Para iniciar sesión:

    /portal/sign-in

    Si no fue usted, puede ignorar este mensaje.
demo-inbox-title = Bandeja de la demostración
demo-inbox-intro = La demostración no tiene servidor de correo: los correos que kidvault enviaría a direcciones que no son de ningún hogar (enlaces para crear cuentas) aparecen aquí.
demo-inbox-to = Para: { $to }

## Errores que puede encontrar una madre, un padre o un tutor, por su código

error-sign-up-link-unknown = Este enlace para crear una cuenta no es válido, ya se usó o ha caducado: vuelva a registrarse.
error-invalid-email = Esta no es una dirección de correo electrónico válida.
error-weak-password = La contraseña debe tener entre 12 y 256 caracteres.
error-invalid-display-name = El nombre debe tener entre 1 y 64 caracteres.
error-email-taken = Ya existe una cuenta con esta dirección de correo electrónico.
error-not-found = Aquí no hay nada, o no le corresponde verlo.
error-csrf-failed = Este formulario ha caducado o no vino de kidvault: vuelva atrás, recargue la página e inténtelo de nuevo.
error-invalid-date = Una fecha debe escribirse como fecha (año-mes-día).
error-unknown-language = kidvault está escrito en inglés y en español.
error-invalid-child = El año de nacimiento debe ser un año.
error-no-scopes = Elija al menos un permiso.
error-unknown-scope = Ese no es uno de los permisos que pide kidvault.
error-unknown-consent-method = Elija cómo verificó que es la madre, el padre o el tutor.
error-invalid-evidence-ref = La referencia de la verificación debe tener entre 1 y 200 caracteres.
error-method-not-allowed-for-scope = El consentimiento por correo electrónico no puede permitir compartir con terceros: elija una forma de verificación más segura.
error-stale-notice-version = Nuestro aviso de privacidad cambió mientras estaba en esta página: recárguela y vuelva a dar su consentimiento.
error-invalid-time-zone = Elija una zona horaria de la lista.
error-invalid-user-code = El código tiene 8 letras, tal como lo muestra el dispositivo.
error-user-code-expired = Este código ha caducado: pida uno nuevo al dispositivo.
error-user-code-used = Este código ya vinculó un dispositivo.
error-invalid-device-name = El nombre del dispositivo debe tener entre 1 y 64 caracteres.
error-totp-invalid = Ese código no es correcto: revise la hora de la aplicación.
error-totp-required = Escriba el código de su aplicación de autenticación (o un código de recuperación).
error-totp-already-on = El inicio de sesión en dos pasos ya está activado.
error-totp-not-started = Primero empiece a configurar el inicio de sesión en dos pasos.
error-wrong-password = La contraseña no es correcta.
error-invite-expired = Esta invitación ha caducado: pida una nueva.
error-invite-used = Esta invitación ya se usó: pida una nueva.
error-invite-unknown = Este enlace de invitación no es válido: pida uno nuevo.
error-confirmation-used = Este consentimiento ya estaba confirmado.
error-household-closing = La cuenta se está cerrando: no se pueden añadir niños.
error-invalid-scope = Diga qué eliminar: una grabación, un día, un intervalo de fechas, un tipo, un dispositivo, todos los datos o el niño (un intervalo debe empezar antes de terminar).
error-invalid-choice = Elija una de las opciones.
error-invalid-query = La dirección de esta página pide algo que la página no ofrece.
error-invalid-form = El formulario está incompleto: vuelva atrás y rellene todos los campos.
error-payload-too-large = El formulario es demasiado grande.
error-body-timeout = El formulario llegó demasiado despacio: inténtelo de nuevo.
error-rate-limited = Demasiados intentos: espere un poco y vuelva a intentarlo.
error-unauthenticated = Inicie sesión para ver esta página.
error-internal = Algo falló por nuestra parte y no se cambió nada. Vuelva a intentarlo en un momento.
error-unknown-user-code = Ningún dispositivo está esperando con este código: compruebe el código en el dispositivo o pídale uno nuevo.

## La política de conservación publicada (sus fines y razones son las palabras del operador)

policy-version = Política de conservación, versión { $version }. Estos son los plazos máximos; puede eliminar cualquier cosa antes, en cualquier momento.
policy-col-data = Datos
policy-col-why = Por qué los guardamos
policy-col-how-long = Cuánto tiempo
policy-col-why-long = Por qué ese plazo
policy-made-from = (obtenidas de: { $from })
policy-days = { $n ->
    [one] 1 día
   *[other] { $n } días
}
policy-derived = Todo lo que se obtiene de otros datos se elimina con ellos, nunca después.
policy-location-title = Ubicación
policy-location = Sin su permiso para la ubicación precisa, una posición se vuelve aproximada (unos { $km } km) antes de guardarse; con él, se guarda precisa durante { $hours } horas y después se vuelve aproximada.
policy-dormant-title = Perfiles que ya no se usan
policy-dormant = Un perfil de niño sin actividad en sus dispositivos durante { $days } días se marca como inactivo y se le avisa; le recordamos { $reminder } días antes del final de un periodo de gracia de { $grace } días, y después eliminamos todo el perfil a menos que decida conservarlo o el niño vuelva a usarlo.
policy-abandoned-title = Registros nunca completados
policy-abandoned = Un perfil de niño para el que ninguna madre, padre o tutor dio nunca su consentimiento se elimina después de { $days } días.
