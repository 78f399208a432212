# kidvault's words for guardians, in English.
# Every message here has a Spanish twin in es.ftl using the same variables
# (the catalogue test checks). Plain words: no ids, codes or internal terms.

## Dates and times

clock = { $h12 }:{ $mm } { $pm }
date-at = { $day } { $mon } { $year }, { $clock } { $zone }
date-on = { $day } { $month } { $year }
date-day-month = { $day } { $mon }
date-weekday-day-month = { $wd } { $day } { $mon }
date-day-title = { $weekday } { $day } { $month } { $year }
month = { $m ->
    [1] January
    [2] February
    [3] March
    [4] April
    [5] May
    [6] June
    [7] July
    [8] August
    [9] September
    [10] October
    [11] November
   *[12] December
}
month-short = { $m ->
    [1] Jan
    [2] Feb
    [3] Mar
    [4] Apr
    [5] May
    [6] Jun
    [7] Jul
    [8] Aug
    [9] Sep
    [10] Oct
    [11] Nov
   *[12] Dec
}
weekday = { $d ->
    [1] Monday
    [2] Tuesday
    [3] Wednesday
    [4] Thursday
    [5] Friday
    [6] Saturday
   *[7] Sunday
}
weekday-short = { $d ->
    [1] Mon
    [2] Tue
    [3] Wed
    [4] Thu
    [5] Fri
    [6] Sat
   *[7] Sun
}

## Every page

page-skip = Skip to the page's content
nav-label = Main
nav-household = Household
nav-deletions = Deletions
nav-mailbox = Mailbox
nav-account = Account
page-signed-in-as = Signed in as
page-times-in = times in { $zone }
page-sign-out = Sign out
page-footer = kidvault keeps children's data only with a parent's consent, shows every access, and deletes for real.
page-footer-retention = How long we keep data
page-language = Language
wait-seconds = { $n ->
    [one] { $n } second
   *[other] { $n } seconds
}
wait-minutes = { $n ->
    [one] { $n } minute
   *[other] { $n } minutes
}

## What is kept, in words

count-items = { $kind ->
    [voice_recording] { $n ->
        [one] { $n } voice recording
       *[other] { $n } voice recordings
    }
    [transcript] { $n ->
        [one] { $n } transcript
       *[other] { $n } transcripts
    }
    [intent] { $n ->
        [one] { $n } understood request
       *[other] { $n } understood requests
    }
    [embedding] { $n ->
        [one] { $n } voice/text embedding
       *[other] { $n } voice/text embeddings
    }
    [memory] { $n ->
        [one] { $n } remembered fact
       *[other] { $n } remembered facts
    }
    [action_log] { $n ->
        [one] { $n } action taken
       *[other] { $n } actions taken
    }
   *[location] { $n ->
        [one] { $n } location
       *[other] { $n } locations
    }
}
kind-plural = { $kind ->
    [voice_recording] voice recordings
    [transcript] transcripts
    [intent] understood requests
    [embedding] voice/text embeddings
    [memory] remembered facts
    [action_log] actions taken
   *[location] locations
}
kind-one = { $kind ->
    [voice_recording] voice recording
    [transcript] transcript
    [intent] understood request
    [embedding] voice/text embedding
    [memory] remembered fact
    [action_log] action taken
   *[location] location
}
count-category = { $category ->
    [user_biometric_voice] { $n ->
        [one] { $n } voice recording
       *[other] { $n } voice recordings
    }
    [user_content] { $n ->
        [one] { $n } piece of what was said or understood
       *[other] { $n } pieces of what was said or understood
    }
    [user_location_precise] { $n ->
        [one] { $n } precise location
       *[other] { $n } precise locations
    }
    [user_location_imprecise] { $n ->
        [one] { $n } approximate location
       *[other] { $n } approximate locations
    }
   *[user_childrens] { $n ->
        [one] { $n } profile detail
       *[other] { $n } profile details
    }
}
scope-name = { $scope ->
    [voice] Voice
    [precise_location] Precise location
    [approximate_location] Approximate location
    [training] Model training
   *[third_party] Third parties
}
scope-allows = { $scope ->
    [voice] Record the child's voice to answer them, and keep what comes from it (the words, what was understood)
    [precise_location] Collect the device's precise location (kept precise for a day, then made approximate)
    [approximate_location] Collect where the device is to within a few kilometres (never the exact point)
    [training] Use the child's data to train or improve models
   *[third_party] Disclose the child's data to third parties
}
consent-method = { $method ->
    [signed_form] Signed consent form
    [payment_card] Payment card transaction
    [toll_free_call] Toll-free call
    [video_call] Video call
    [government_id] Government ID check
    [knowledge_based] Knowledge-based questions
    [face_match] Face match against ID
    [text_plus] Text message plus confirmation
   *[email_plus] E-mail plus confirmation
}
understood = The assistant understood: { $what }{ $about }{ $sure }.
understood-about = , about “{ $slot }”
understood-sure = { $level ->
    [sure] {" "}(sure)
    [fairly] {" "}(fairly sure)
   *[unsure] {" "}(not sure)
}
intent = { $intent ->
    [play_music] play music
    [play_story] play a story
    [question] answer a question
    [set_timer] set a timer
    [joke] tell a joke
    [bedtime_routine] start the bedtime routine
    [weather] say what the weather will be
    [spelling] spell a word
    [math] work out a sum
   *[other] {""}
}
remembered = The assistant remembers: { $what }.
action-done = The assistant did this: { $what }.
value-nothing = nothing
value-bool = { $yes ->
    [yes] yes
   *[no] no
}
category-plural = { $category ->
    [user_biometric_voice] voice recordings
    [user_content] pieces of what was said or understood
    [user_location_precise] precise locations
    [user_location_imprecise] approximate locations
   *[user_childrens] profile details
}
purpose = { $purpose ->
    [integral] helps run the service
    [third_party] a separate company, only if you allow sharing
   *[training] trains or improves models, only if you allow it
}

## Links between a child's pages

back-household = ← Household
link-voice-history = Voice history
link-activity = Activity & access log
link-consent = Consent
link-locations = Locations
link-devices = Devices
link-export = Export (zip)
link-export-everything = Export everything (zip)
link-delete-child = Delete this child…
link-seen = Who has seen it
link-shared = Who received data

## The household

household-title = Your household
household-dormant = Not used for a long time: this profile and all its data will be deleted on { $date }.
household-keep-profile = Keep this profile
household-kept = Kept even if unused (since { $date }).
household-stop-keeping = Stop keeping it
household-dormant-from = If unused, becomes dormant on { $date }.
household-keep-unused = Keep it even if unused
household-never = never
household-born = Born { $year }
household-badge-renew = consent must be renewed
household-badge-waiting = waiting for consent
household-badge-active = active
household-badge-deleting = being deleted
household-in-force = Consent in force:
household-nothing-collected = nothing may be collected
household-last-used = Last used a device: { $when }
household-empty = No child profiles yet. Add one below.
household-add = Add a child
household-add-nothing-yet = Nothing is collected for a new child until you give verifiable consent.
household-name = Name or nickname
household-birth-year = Birth year
household-add-button = Add the child

## What is kept, and consent

kept-not = Not kept
kept-days = { $n ->
    [one] Kept 1 day, then deleted automatically
   *[other] Kept { $n } days, then deleted automatically
}
kept-title = What we keep about { $name }, why, and for how long
kept-set-by = Set by our
kept-policy = retention policy
kept-and-choice = and your auto-delete choice on the household page. You can delete anything sooner.
consent-title = Consent for { $name }
consent-sent-title = Confirm by e-mail
consent-sent-check = Check your e-mail
consent-sent-text = We sent a confirmation link to { $email }. Nothing is collected for { $name } under this consent until you open it (within 48 hours). It is also in your
consent-sent-mailbox = mailbox
consent-back = Back to consent
consent-notice-changed = Our privacy notice changed (now version { $version }). Nothing is collected until you consent again.
consent-in-force = In force now
consent-nothing = Nothing may be collected for this child.
consent-withdraw = Withdraw
consent-withdraw-when = A withdrawal takes effect on the device's next request.
consent-give = Give consent
consent-under-notice = Under privacy notice version { $version }. Each permission is its own choice; only voice is on by default, because the assistant cannot answer without it.
consent-method-label = How you verified that you are the parent
consent-evidence = Reference of the verification (form number, call or transaction id)
consent-may-do = What kidvault may do
consent-record = Record consent
consent-history = History
consent-none-yet = No consent recorded yet.
consent-col-given = Given
consent-col-method = Method
consent-col-notice = Notice
consent-col-permissions = Permissions
consent-withdrawn-on = { $scope } (withdrawn { $when })
confirm-title = Confirm consent
confirm-heading = Confirm your consent
confirm-text = You asked to give consent by e-mail. Confirm it to let kidvault collect under it.
confirm-button = Confirm consent
recipients-title = Who receives { $name }'s data
recipients-intro = Of what kidvault keeps about { $name }, nobody outside kidvault receives anything except the companies below, and only what the permissions above allow.
recipients-see = See what each has received
recipients-none = No company outside kidvault receives anything.
recipients-voice-or-location = Voice or location (whichever collects it)
recipients-receives = receives { $what } now, because you allowed it
recipients-new = is new since you agreed: it receives nothing until you give consent again
recipients-not-allowed = receives nothing unless you allow “{ $needs }”

## A child's voice history

timeline-title = { $name }'s voice history
timeline-delete-device = Delete everything { $device } sent…
timeline-delete-filter = Delete everything this filter selects…
timeline-empty = Nothing recorded here.
timeline-delete-day = Delete this day…
timeline-delete-by-kind = Delete by kind
timeline-delete-by-kind-text = Each also deletes everything that came from what it deletes.
timeline-delete-all-of = All { $kind }…
timeline-recording-of = Recording of { $when }
timeline-auto-deleted = Deleted automatically on { $date }, with the words and everything that came from it.
timeline-file-recording = recording
timeline-download = Download the recording
timeline-embedding = Numbers computed from the recording, to match requests (no words).
timeline-delete-item-label = Delete this { $kind } and what was derived from it
timeline-delete-item = Delete…
pages-label = Pages
pages-newer = ← Newer
pages-older = Older →
filter-show = Show
filter-everything = Everything
filter-from = From
filter-to = To
filter-device = Device
filter-all-devices = All devices
filter-words = Words said
filter-words-example = moon song

## Deleting

scope-child = the child's profile, keys, consents, devices and all of its data
scope-item = one recording (or other record) and everything that came from it
scope-all-data = all data
scope-range-on = {" "}recorded on { $day }
scope-range-from-to = {" "}recorded from { $from } to { $to }
scope-range-since = {" "}recorded since { $from }
scope-range-up-to = {" "}recorded up to { $to }
scope-sent-by = {" "}that { $device } sent
scope-sent-by-one = {" "}that one device sent
scope-items = { $what }{ $sent }{ $range }, and everything that came from it
delete-title = Confirm deletion
delete-heading = Delete { $what } for { $name }?
delete-will = This will permanently delete:
delete-nothing = Nothing matches: there is nothing to delete.
delete-child-profile = { $name }'s profile, consents and paired devices
delete-child-keys = the child's encryption keys, destroyed at once
delete-total = { $n ->
    [one] 1 thing in all.
   *[other] { $n } things in all.
}
delete-among = Among it, what { $name } said:
delete-more = …and more.
delete-keys-erased = The data keys are destroyed first and erased from disk, so nothing can be read again from anything we keep
delete-keys-locked = The data keys are destroyed first, so nothing can be read again through kidvault (the database keeps locked remnants of them until its routine cleanup)
delete-keys-sealed = The data keys are destroyed first, so nothing can be read again through kidvault. The database may keep locked remnants of them for a while; within { $days } days nothing that could unlock them exists anywhere
delete-then = ; then the encrypted data is erased, every service that holds a copy is told to delete it, and you get a signed receipt. Backups made before today hold only locked copies, and stop opening by
delete-then-keys = , when their own keys are destroyed.
delete-cannot-undo = This cannot be undone.
delete-button = Delete permanently
delete-cancel = Cancel
delete-one-item = the { $kind } of { $when }, and everything that came from it
delete-one-item-said = the { $kind } of { $when }: “{ $said }”, and everything that came from it
deletions-title = Deletions
deletions-intro = Every deletion you (or the retention policy, or your auto-delete choice) started, and where it is. A completed deletion has a signed receipt: a file that anyone can check was written by kidvault and not changed since.
deletions-none = No deletions yet.
deletions-col-requested = Requested
deletions-col-what = What
deletions-col-why = Why
deletions-col-status = Status
deletions-col-receipt = Receipt
deletions-done = done
deletions-in-progress = in progress
deletions-download-receipt = Download receipt
deletion-reason = { $reason ->
    [guardian] you asked
    [retention] our retention policy
    [dormancy] the profile was not used for a long time
    [restore] done again after restoring a backup
   *[auto_delete] your auto-delete choice
}
deletion-title = Deletion
deletion-back = ← Deletions
deletion-asked = Asked for { $when } · why: { $why }
deletion-step = { $step ->
    [requested] Requested
    [resolved] Found everything that came from it
    [shredded_erased] Keys destroyed and erased from disk: unreadable from now on
    [shredded] Keys destroyed: unreadable from now on
    [rotated] Everything else keeps its own keys: nothing else is touched
    [purged] Encrypted data erased
    [dispatched] Services holding copies told
    [acknowledged] Every service confirmed
   *[completed] Completed, receipt signed
}
deletion-services = Services holding copies
deletion-models = Models trained on this data
deletion-task-confirmed = confirmed { $when }
deletion-task-overdue = waiting, overdue since { $when }
deletion-task-waiting = waiting (deadline { $when })
deletion-model-retrained = retrained without it on { $when }
deletion-model-destroyed = destroyed on { $when }
deletion-model-late = not yet retrained or destroyed, late since { $when }
deletion-model-due = to be retrained without it or destroyed by { $when }
deletion-unreadable-since = Unreadable in everything we keep since { $when }. Backups made before then stop opening by { $backups }.
deletion-download-receipt = Download the signed receipt
receipt-signed = This receipt is signed by kidvault's log. Download it to keep it; anyone can check it against the log's published key.
receipt-valid = Checked in your browser: valid. kidvault's log signed it as record { $index } of { $size }, and this receipt is exactly what it recorded.
receipt-invalid = Checked in your browser: NOT valid.
receipt-unchecked = This browser could not check the receipt: download it and check it with the log's public key.
receipt-why-signature = The log's signature does not match kidvault's published key.
receipt-why-checkpoint = The checkpoint is not this log's.
receipt-why-proof = The proof is too long.
receipt-why-absent = The receipt is not in the log.
receipt-why-text = The receipt's text is not what the log recorded.

## What happened to a child's data

activity-title = What happened to { $name }'s data
activity-intro = Everything that happened to { $name }'s data, newest first: consents, choices, deletions, and every time someone looked at it. Each line is signed and kept where nobody, kidvault included, can change or remove it unnoticed: download a line's signed copy to check it yourself.
activity-hide-mine = Hide your own looks
activity-mine-hidden = Your own looks ({ $n }) are hidden.
activity-show-mine = Show them
activity-empty = Nothing else has happened yet.
activity-signed-copy = Signed copy
activity-signed-copy-label = Signed copy of this line
pages-of = Page { $page } of { $pages }
actor = { $who ->
    [you] You
    [other_parent] Another parent in your household
    [staff] Someone at kidvault
    [device] A paired device
    [retention] kidvault's retention process
    [dormancy] kidvault's check for unused profiles
   *[kidvault] kidvault
}
looked-at = { $what ->
    [profile] { $name }'s profile
    [timeline] { $name }'s voice history ({ $n ->
        [one] 1 record
       *[other] { $n } records
    })
    [items] the list of { $name }'s recordings and records
    [item] one of { $name }'s records
    [content] one of { $name }'s recordings or what was said
    [devices] { $name }'s devices
    [export] everything kept about { $name }, to download
   *[data] { $name }'s data
}
looked-kind = { $n ->
    [one] { $kind ->
        [voice_recording] a voice recording
        [transcript] a transcript
        [intent] an understood request
        [embedding] a voice/text embedding
        [memory] a remembered fact
        [action_log] an action taken
       *[location] a location
    } of { $name }'s
   *[other] { $n } { $kind ->
        [voice_recording] voice recordings
        [transcript] transcripts
        [intent] understood requests
        [embedding] voice/text embeddings
        [memory] remembered facts
        [action_log] actions taken
       *[location] locations
    } of { $name }'s
}
act-looked = { $who } looked at { $what }.
act-consent-given = { $who } gave consent ({ $how }) for: { $scopes }.
act-consent-withdrawn = { $who } withdrew consent for: { $scopes }.
act-deletion-completed = A deletion was completed ({ $why }): { $n ->
    [one] 1 thing
   *[other] { $n } things
} deleted for good.
act-keys-destroyed = The keys to what was deleted were destroyed: it can never be read again.
act-retention-expired = Data past the time our policy keeps it was deleted.
act-dormancy-notice = { $name }'s profile was not used for a long time: you were told it will be deleted on { $date }.
act-keep-profile = { $who } chose to keep { $name }'s profile even if it is not used.
act-stop-keeping = { $who } stopped keeping { $name }'s profile when it is not used.
act-keep-policy = { $who } chose to keep recordings as long as our policy allows.
act-keep-none = { $who } chose not to save { $name }'s recordings.
act-keep-days = { $who } chose to keep each recording { $days } days.
act-kept-changed = { $who } changed how long { $name }'s data is kept.
act-household-closed = The account was closed and everything in it deleted.
act-rollback = Some of these records were lost when a backup was restored.
act-disclosed = { $processor } received { $n ->
    [one] 1 record
   *[other] { $n } records
}{ $why }.
act-dataset = Some of { $name }'s data went into a training set, as your consent allows.
act-model = A model trained on data that was later deleted was retrained without it or destroyed.
act-support-granted = { $who } let kidvault support see { $name }'s data until { $until }.
act-support-revoked = { $who } ended kidvault support's access to { $name }'s data.
act-reviewed = { $justified ->
    [yes] Our privacy officer reviewed a look by kidvault staff and found it justified.
   *[no] Our privacy officer reviewed a look by kidvault staff and found it was not justified.
}
act-policy-changed = kidvault's rules for staff access changed.

## Auto-delete

auto-delete-label = Auto-delete recordings
auto-delete-save = Save
auto-delete-choice = { $choice ->
    [never] Don't save recordings (answer and forget)
    [7] Keep each recording 7 days
    [90] Keep each recording 3 months
    [548] Keep each recording 18 months
   *[policy] Keep each recording as long as our policy allows
}
auto-delete-too-long = (longer than our policy allows: { $n } days)
auto-delete-policy-days = ({ $n } days)
auto-delete-now-none = Recordings are not saved: the device answers and forgets.
auto-delete-now-policy = Each recording is kept { $n } days (the longest our policy allows), then deleted automatically.
auto-delete-now-days = Each recording is kept { $n } days, then deleted automatically.

## Devices and pairing

devices-title = Devices
devices-heading = { $name }'s devices
devices-paired = { $device } is paired
devices-paired-text = It can send { $name }'s recordings now, under the consent you gave. Revoke it here at any time.
devices-none = No device paired yet.
devices-col-device = Device
devices-col-paired = Paired
devices-col-status = Status
devices-revoked = revoked { $when }
devices-active = active
devices-revoke = Revoke
devices-revoke-label = Revoke { $device }
devices-revoke-when = A revoked device is refused from its next request.
pair-title = Pair a device
pair-text = Turn the device on: it shows (or says) a code of 8 letters. Type it here. You never need to type a password or a long key into the device.
pair-code = The code on the device
pair-name = Name it
pair-name-example = Kitchen speaker
pair-button = Pair
pair-too-many = too many wrong codes: try again in { $wait }
pair-no-child = Add a child on the household page first: a device is paired to one child.
pair-no-child-link = Go to the household page
pair-whose = Whose device is it?

## Searching what was said

search-said = “{ $words }”: said { $n ->
    [0] nowhere in these dates
    [one] once
   *[other] { $n } times
}
search-said-many = “{ $words }”: said { $n } times or more (the newest shown)
search-only-newest = Only the newest { $n } things said were searched: pick dates to look further back.
search-back = Back to the whole voice history

## Who received data

shared-title = Who received { $name }'s data
shared-intro = Every time data kidvault keeps about { $name } goes to a company outside kidvault, it is written down here and in the tamper-evident log. A company that helps run the service receives only what you let us collect; anyone else receives nothing unless you allowed it on the consent page, and withdrawing that permission asks them to delete what they received.
shared-nobody = Nobody outside kidvault has received { $name }'s data.
shared-with = Shared with
shared-nobody-else = Nobody else has received what kidvault keeps about { $name }.
shared-received-nothing = Received nothing
shared-received = ({ $purpose }) received { $what }, from { $from } to { $to }.
shared-asked = { $why ->
    [deleted] Asked to delete what you deleted
   *[withdrew] Asked to delete everything it received, because you withdrew your permission
} on { $when }: { $state }.
shared-confirmed = it confirmed the deletion on { $when }
shared-late = it has not confirmed yet and is late (it was due by { $when })
shared-waiting = waiting for it to confirm (due by { $when })

## Who has seen a child's data

seen-title = Who has seen { $name }'s data
seen-shared-link = Shared with companies
seen-full-record = Full record
seen-show = Show:
seen-everyone = everyone
seen-your-household = your household
seen-staff = people at kidvault
seen-last-days = last { $n } days
seen-all-time = all time
seen-period = {" "}in the last { $n } days
seen-former-member = a former member of your household
seen-household-title = Your household
seen-household-none = No one in your household looked at { $name }'s recordings, words or places{ $period }.
seen-and = { $rest } and { $last }
seen-household = { $people }{ $household ->
    [yes] {" "}(your household)
   *[no] {""}
} looked at { $n } of { $name }'s recordings, words or places{ $period }.
seen-staff-title = People at kidvault
seen-no-staff = No one at kidvault looked at { $name }'s data{ $period }.
seen-older = Older
seen-system-title = kidvault's own processes
seen-system = kidvault's retention process read { $n } of { $name }'s precise places{ $period } to make them approximate, as our policy says. No person saw them.
seen-no-one-else = No one else. Companies outside kidvault that received { $name }'s data are on
staff-look = { $who } (ticket { $ticket }{ $why }{ $permission }) { $what } { $when }.
staff-role = { $role ->
    [support] Support
    [trust_and_safety] Trust and safety
    [ml_engineer] A machine-learning engineer
    [sre] An engineer keeping kidvault running
    [privacy_officer] The privacy officer
    [auditor] An auditor
    [admin] An administrator
   *[someone] Someone at kidvault
}
staff-purpose = { $purpose ->
    [support_ticket] to answer a support request
    [safety_report] to handle a safety report
    [legal_hold] for a legal requirement
    [debugging] to fix a fault
   *[audit] for an audit
}
staff-with-permission = , with your permission until { $until }
staff-break-glass = , without your permission: they overrode the usual rules, and our privacy officer reviews every such look
staff-on = on { $day }
staff-from-to = from { $from } to { $to }
staff-proof = How we know this record wasn't altered: record
act-reviewed-it = { $justified ->
    [yes] The privacy officer reviewed it and found it justified.
    [no] The privacy officer reviewed it and found it was not justified.
   *[pending] The privacy officer has not reviewed it yet.
}
staff-looked-at = { $what ->
    [voice_recording] listened to { $n ->
        [one] a recording
       *[other] { $n } recordings
    }
    [intent] read { $n ->
        [one] one
       *[other] { $n }
    } of what the assistant understood
    [transcript] read { $n ->
        [one] one
       *[other] { $n }
    } of what { $name } said
    [memory] read { $n ->
        [one] one
       *[other] { $n }
    } of the things the assistant remembered about { $name }
    [action_log] read { $n ->
        [one] one
       *[other] { $n }
    } of the things the assistant did for { $name }
    [location] saw { $n ->
        [one] a place
       *[other] { $n } places
    }
    [metadata] saw how much kidvault keeps about { $name } (counts and dates, not what was said)
    [list] saw the list of what kidvault keeps about { $name } (dates and kinds, not what was said)
   *[other] read { $n ->
        [one] a thing
       *[other] { $n } things
    } kidvault keeps about { $name }
}
support-title = Support's access to { $name }'s data
support-on = Support can see { $name }'s recordings, words and places until { $until }, to help you with a question you asked. Each look is listed below.
support-end = End support's access now
support-off = Support cannot see { $name }'s recordings, words or places. If you ask our support team for help, you can let them look for a time you choose; you can end it at any moment.
support-how-long = For how long
support-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
support-days = { $n ->
    [one] 1 day
   *[other] { $n } days
}
support-let = Let support see { $name }'s data
support-earlier-ended = You allowed it on { $from } and ended it on { $to }.
support-earlier-expired = You allowed it on { $from }; it ended on { $to }.

## Signing in, the account, the mailbox

sign-in = Sign in
sign-in-no-account = No account yet?
sign-in-create = Create one
sign-in-wrong = e-mail or password is wrong
sign-in-too-many = too many failed attempts: try again in { $wait }
account-email = E-mail
account-password = Password
account-code = Authentication code (only if two-step sign-in is on)
account-your-name = Your name
account-new-password = Password (12 characters or more)
sign-up-title = Create an account
sign-up-button = Create the account
sign-up-have-account = Already have an account?
sign-up-too-many = too many new accounts were made from this network: try again in { $wait }
sessions-title = Signed-in sessions
sessions-text = Every browser and app signed in to your account. Revoke any you do not recognise.
sessions-col-where = Where
sessions-col-signed-in = Signed in
sessions-col-expires = Expires
sessions-this-browser = (this browser)
sessions-sign-out-here = Sign out here
session-label = { $browser } on { $device }
session-word = { $key ->
    [A_browser_or_app] A browser or app
    [an_iPhone] an iPhone
    [an_iPad] an iPad
    [a_Chromebook] a Chromebook
    [a_Mac] a Mac
   *[other] { $name }
}
account-yours = Your account
account-back = Back to the account
invite-title = Another guardian
invite-text = Invite a second parent or legal guardian: they get their own sign-in and see and manage the same children. The link works once, for 7 days.
invite-create = Create an invitation link
invite-page-title = Invite a guardian
invite-link = Invitation link
invite-send = Send this link to the other guardian. It works once, for 7 days, and is shown only now.
invite-once = An invitation link is shown only once. If you did not copy it, create another on the account page.
join-title = Join a household
join-text = You were invited to join a household on kidvault as a guardian.
join-button = Join the household
close-title = Close the account
close-deletes = Closing the account deletes
close-every-child = every child profile of the household and all of their data
close-rest = : recordings, transcripts, everything that came from them, locations, consents and devices. Their keys are destroyed at once. You can still sign in for { $days } days to download the deletion receipts; then your account is removed too.
close-password = Your password, to confirm
close-button = Close the account and delete everything
zone-title = Time zone
zone-shown = Times are shown in { $zone } ({ $abbrev }).
zone-utc = Times are shown in UTC until you choose your time zone.
zone-days = Days on the voice history, and “delete this day”, begin at midnight in this zone.
zone-yours = Your time zone
mailbox-intro = Notices kidvault sent you: deletion confirmations, consent and retention notices.
mailbox-none = No notices yet.
mailbox-delivered = delivered { $when } ({ $via })
mailbox-via = { $via ->
    [mailbox] mailbox
    [email] e-mail
   *[other] { $via }
}
mailbox-sending = being sent
mailbox-open = Open it in the portal
totp-title = Two-step sign-in
totp-on = Two-step sign-in is on
totp-on-text = Signing in needs a code from your authenticator app (or one of your recovery codes).
totp-password-off = Your password, to turn it off
totp-turn-off = Turn two-step sign-in off
totp-off-text = Ask for a code from an authenticator app as well as your password.
totp-set-up = Set up two-step sign-in
totp-qr-label = QR code for your authenticator app
totp-add = Add kidvault to your authenticator app
totp-scan = Scan this code with the app:
totp-type-key = Or type this key into it (the spaces do not matter):
totp-on-phone = On the phone that has the app, you can also
totp-open-link = open the set-up link
totp-code = The 6-digit code the app shows now
totp-turn-on = Turn on
recovery-title = Recovery codes
recovery-file = kidvault recovery codes for { $email }
recovery-keep = Keep these recovery codes somewhere safe. Each signs you in once if you lose the app. They are shown only now.
recovery-download = Download them
policy-title = How long we keep your child's data
policy-notice-version = Consent notice version in force:
policy-notice-changes = . When this policy changes, we ask you to consent again.
policy-portal = Parent portal

## Error pages

error-title = { $status ->
    [400] Bad Request
    [401] Unauthorized
    [403] Forbidden
    [404] Not Found
    [409] Conflict
    [410] Gone
    [413] Payload Too Large
    [422] Unprocessable Entity
    [429] Too Many Requests
    [503] Service Unavailable
   *[500] Error
}
error-code = Code:
error-back = Back to the household

## Places

places-title = { $name }'s locations
places-intro = Where { $name }'s device was. A precise place stays precise for { $hours } hours, then only the area around it (about 5 km) is kept.
places-none = No locations recorded here.
places-delete-all = Delete all locations…
places-col-where = Where
places-col-when = When
places-col-exact = How exact
places-approximate = Approximate
places-precise-until = Precise until { $when }, then approximate
places-area = Somewhere in this ~{ $km } km area, around { $lat }, { $lon }
places-point = At { $lat }, { $lon } (within { $m } m)
places-once = Once, { $when }
places-times-day = { $n } times between { $from } and { $to } on { $day }
places-times = { $n } times between { $from } and { $to }
places-map-label = Map of { $n } places, about { $w } by { $h } km
places-map-legend = about { $w } km × { $h } km, north up; shaded circles are approximate areas

## Notices (the mailbox and e-mail). Children and times are filled in for
## each reader; e-mail says "your child" instead of a name.

notice-your-child = your child
notice-consent-subject = Confirm your consent
notice-consent-body =
    You gave consent on kidvault, under privacy notice { $notice }, for { $child }: { $scopes }.

    To confirm it, sign in and open this link before { $until }:

    /portal/consent/confirm/{ $token }

    Until you do, nothing is collected under it. If this was not you, ignore this message.
notice-deletion-subject = Your deletion is complete
notice-what-item = one recording or record, and everything that came from it
notice-what-items = a selection of { $child }'s data
notice-what-child = a child's profile, keys and all of their data
notice-nothing-else = nothing else
notice-deletion-body =
    The deletion you asked for is complete: { $what }.

    Why: { $why }
    Asked for: { $requested }
    Deleted: { $items } in all ({ $counted })

    The keys that unlocked it were destroyed, the encrypted data erased, and every service that held a copy confirmed its deletion. The signed receipt, which anyone can check, is on this deletion's page in the portal:

    /portal/deletions/{ $id }
notice-staff-subject = Someone at kidvault looked at your child's data without the usual permission
notice-staff-body = { $role } opened { $child }'s data { $purpose } (case { $ticket }) on { $at }, overriding the usual access rules with a written reason. Our privacy officer reviews every such access and decides whether it was justified; the decision will appear on the "Who has seen" page of the parent portal, with every access to the data.
notice-since-created = it was created
notice-dormant-subject = A child profile will be deleted because it is not used
notice-dormant-body =
    The profile of { $name } has not been used on any device for { $days } days (last used: { $since }).

    Under our retention policy it will be deleted, with all of its data (recordings, transcripts and everything that came from them, locations, consents, devices), on { $date }.

    To keep it, open the parent portal and choose "Keep this profile":

    /portal

    If the child uses a device again before then, nothing is deleted.
notice-reminder-subject = Reminder: an unused child profile will be deleted soon
notice-reminder-body =
    The profile of { $name }, which has not been used, will be deleted with all of its data on { $date }.

    To keep it, open the parent portal and choose "Keep this profile":

    /portal

## The export a parent downloads

export-title = What { $name } said: kidvault export
export-heading = What { $name } said
export-intro = Exported on { $when }. Every recording kidvault kept, newest first, with the words heard in it. Everything else is in the other files of this folder (README.txt says which).
export-none = No recordings are kept.
export-readme =
    Everything kidvault holds about { $name } (child { $id }), exported { $at }.

    index.html: open this first: each day's recordings, playable here, with the words heard.
    manifest.json: every item: kind, data category, when it was recorded and received, the device, what it was derived from and what was derived from it, its file.
    audio/: voice recordings (WAV).
    transcripts/: transcripts (plain text, UTF-8).
    derived/: other derived items (JSON): understood requests, memories, embeddings.
    locations.geojson: locations (GeoJSON points; accuracy in metres).
    locations.csv: the same as a table.
    consents.json: every consent you gave, with its method, evidence reference, notice version and permissions, and any withdrawal.
    disclosures.json: who outside kidvault received the child's data: each company, why, how many items of each kind and when, and every request to delete them.

    Privacy notice in force: version { $notice }. This export was recorded in the child's access log.
    Times in the data files are UTC (RFC 3339). This archive was built in memory and streamed; kidvault kept no copy.

## Signing up by e-mail

sign-up-by-mail = We will e-mail you a link to finish creating your account.
sign-up-mail-failed = We could not send the e-mail just now, so nothing was created. Try again in a few minutes.
sign-up-sent-text = We sent an e-mail to the address you gave. If it can have a new account, the e-mail holds a link to finish creating it (it works once, for 24 hours); if it already has one, the e-mail says so.
sign-up-sent-nothing = Nothing else happens until the link is followed. If no e-mail arrives, check the address and sign up again.
sign-up-finish-title = Finish creating your account
sign-up-finish-text = Your e-mail address is confirmed. Create your kidvault account to see and manage what is kept about your children.
sign-up-finish-button = Create my account
signup-confirm-subject = Finish creating your kidvault account
signup-confirm-body =
    Someone, probably you, asked to create a kidvault account with this e-mail address.

    To finish, open this link before { $until }:

    { $link }

    If this was not you, ignore this message: no account is created.
signup-exists-subject = Someone tried to create a kidvault account with your address
signup-exists-body =
    Someone, probably you, tried to create a new kidvault account with this e-mail address. It already has one, and nothing was changed.

    To sign in:

    /portal/sign-in

    If this was not you, you can ignore this message.
demo-inbox-title = Demo inbox
demo-inbox-intro = The demo has no mail server: the e-mails kidvault would send to addresses outside any household (sign-up links) appear here instead.
demo-inbox-to = To: { $to }

## Errors a parent can meet, by their stable code

error-sign-up-link-unknown = This sign-up link is not valid, was used already, or has expired: sign up again.
error-invalid-email = This is not a valid e-mail address.
error-weak-password = The password must be 12 to 256 characters long.
error-invalid-display-name = The name must be 1 to 64 characters long.
error-email-taken = An account with this e-mail address already exists.
error-not-found = There is nothing here, or it is not yours to see.
error-csrf-failed = This form has expired or did not come from kidvault: go back, reload the page and try again.
error-invalid-date = A date must be written as a date (year-month-day).
error-unknown-language = kidvault is written in English and Spanish.
error-invalid-child = The birth year must be a year.
error-no-scopes = Choose at least one permission.
error-unknown-scope = That is not one of the permissions kidvault asks for.
error-unknown-consent-method = Choose how you verified that you are the parent.
error-invalid-evidence-ref = The reference of the verification must be 1 to 200 characters.
error-method-not-allowed-for-scope = Consent by e-mail cannot allow sharing with third parties: choose a stronger way to verify.
error-stale-notice-version = Our privacy notice changed while you were on this page: reload it and consent again.
error-invalid-time-zone = Choose a time zone from the list.
error-invalid-user-code = The code has 8 letters, as the device shows it.
error-user-code-expired = This code has expired: ask the device for a new one.
error-user-code-used = This code has already paired a device.
error-invalid-device-name = The device's name must be 1 to 64 characters long.
error-totp-invalid = That code is not right: check the app's clock.
error-totp-required = Enter the code from your authenticator app (or a recovery code).
error-totp-already-on = Two-step sign-in is already on.
error-totp-not-started = Start setting up two-step sign-in first.
error-wrong-password = The password is wrong.
error-invite-expired = This invitation has expired: ask for a new one.
error-invite-used = This invitation has already been used: ask for a new one.
error-invite-unknown = This invitation link is not valid: ask for a new one.
error-confirmation-used = This consent was already confirmed.
error-household-closing = The account is being closed: no child can be added.
error-invalid-scope = Say what to delete: a recording, a day, a date range, a kind, a device, all data or the child (a range must start before it ends).
error-invalid-choice = Choose one of the options.
error-invalid-query = This page's address asks for something it does not offer.
error-invalid-form = The form is incomplete: go back and fill in every field.
error-payload-too-large = The form is too large.
error-body-timeout = The form arrived too slowly: try again.
error-rate-limited = Too many attempts: wait a little and try again.
error-unauthenticated = Sign in to see this page.
error-internal = Something went wrong on our side, and nothing was changed. Try again in a moment.
error-unknown-user-code = No device is waiting with this code: check the code on the device, or ask it for a new one.

## The published retention policy (its purposes and reasons are the operator's own words)

policy-version = Retention policy version { $version }. These are the longest periods; you can delete anything sooner, at any time.
policy-col-data = Data
policy-col-why = Why we keep it
policy-col-how-long = How long
policy-col-why-long = Why that long
policy-made-from = (made from: { $from })
policy-days = { $n ->
    [one] 1 day
   *[other] { $n } days
}
policy-derived = Anything made from other data is deleted with it, never later.
policy-location-title = Location
policy-location = Without your permission for precise location, a position is made approximate (about { $km } km) before it is stored; with it, it is kept precise for { $hours } hours, then made approximate.
policy-dormant-title = Profiles no longer used
policy-dormant = A child profile with no activity from the child's devices for { $days } days is marked dormant and you are told; we remind you { $reminder } days before the end of a { $grace }-day grace period, and then delete the whole profile unless you choose to keep it or the child uses it again.
policy-abandoned-title = Sign-ups never completed
policy-abandoned = A child profile for which no parent ever gave consent is deleted after { $days } days.
