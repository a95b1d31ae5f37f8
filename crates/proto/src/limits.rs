//! The limits of what the API accepts, in one place: the server enforces these values, and the OpenAPI
//! document states them (`minLength`, `maxLength`, `pattern`, `minimum`, `maximum`) from the same
//! constants, so generated clients and fuzzers know them and the two cannot drift apart.

/// The bounds of a text field, counted in characters after trimming surrounding white space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    /// Fewest characters.
    pub min: usize,
    /// Most characters.
    pub max: usize,
    /// A regular expression (ECMA 262, as JSON Schema reads it) the raw value must match, if any.
    pub pattern: Option<&'static str>,
}

/// A username: 3 to 20 of `[a-z0-9_]`; upper case is folded and surrounding white space trimmed.
pub const USERNAME: TextLimit = TextLimit { min: 3, max: 20, pattern: Some(r"^\s*[A-Za-z0-9_]{3,20}\s*$") };
/// A display name: 1 to 50 characters, not all white space, no control characters.
pub const DISPLAY_NAME: TextLimit =
    TextLimit { min: 1, max: 50, pattern: Some(r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$") };
/// A password: 8 to 1,024 characters.
pub const PASSWORD: TextLimit = TextLimit { min: 8, max: 1024, pattern: None };
/// A bio: at most 300 characters.
pub const BIO: TextLimit = TextLimit { min: 0, max: 300, pattern: None };
/// A room's title: 1 to 100 characters, not all white space, no control characters.
pub const ROOM_TITLE: TextLimit = TextLimit { min: 1, max: 100, pattern: DISPLAY_NAME.pattern };

/// An event's description: at most 1,000 characters.
pub const EVENT_DESCRIPTION: TextLimit = TextLimit { min: 0, max: 1000, pattern: None };
/// How many co-hosts an event may have besides its creator.
pub const EVENT_COHOSTS: usize = 10;
/// How far ahead an event may be scheduled, in days.
pub const EVENT_MAX_DAYS_AHEAD: i64 = 60;
/// A search query: 1 to 100 characters.
pub const SEARCH_QUERY: TextLimit = TextLimit { min: 1, max: 100, pattern: None };

/// A chat message: 1 to 500 characters.
pub const CHAT_MESSAGE: TextLimit = TextLimit { min: 1, max: 500, pattern: None };

/// A report's text: up to 1,000 characters.
pub const REPORT_TEXT: TextLimit = TextLimit { min: 0, max: 1000, pattern: None };
/// An admin's note on a report, or a suspension's reason.
pub const ADMIN_NOTE: TextLimit = TextLimit { min: 1, max: 1000, pattern: None };

/// A club's handle: as a username.
pub const CLUB_HANDLE: TextLimit = USERNAME;
/// A club's name: as a display name.
pub const CLUB_NAME: TextLimit = DISPLAY_NAME;
/// A club's description: at most 1,000 characters.
pub const CLUB_DESCRIPTION: TextLimit = TextLimit { min: 0, max: 1000, pattern: None };
/// A club's rules: at most 2,000 characters.
pub const CLUB_RULES: TextLimit = TextLimit { min: 0, max: 2000, pattern: None };

/// A private message: 1 to 1,000 characters.
pub const MESSAGE_TEXT: TextLimit = TextLimit { min: 1, max: 1000, pattern: None };
/// How many people a group thread holds, its creator included.
pub const GROUP_MEMBERS: usize = 10;

/// The largest page a list returns (`limit`); the smallest is 1.
pub const PAGE_MAX: u32 = 200;
/// A page's size when `limit` is not given.
pub const PAGE_DEFAULT: u32 = 50;

/// Where each text limit applies: (schema, property, limit).
pub const TEXT_FIELDS: &[(&str, &str, TextLimit)] = &[
    ("SignupRequest", "username", USERNAME),
    ("SignupRequest", "display_name", DISPLAY_NAME),
    ("SignupRequest", "password", PASSWORD),
    ("LoginRequest", "password", TextLimit { min: 0, max: PASSWORD.max, pattern: None }),
    ("UpdateMeRequest", "display_name", DISPLAY_NAME),
    ("UpdateMeRequest", "bio", BIO),
    ("CreateRoomRequest", "title", ROOM_TITLE),
    ("CreateEventRequest", "title", ROOM_TITLE),
    ("CreateEventRequest", "description", EVENT_DESCRIPTION),
    ("UpdateEventRequest", "title", ROOM_TITLE),
    ("UpdateEventRequest", "description", EVENT_DESCRIPTION),
    ("ReportRequest", "text", REPORT_TEXT),
    ("ResolveReportRequest", "note", ADMIN_NOTE),
    ("SuspendRequest", "reason", ADMIN_NOTE),
    ("ChangePasswordRequest", "new_password", PASSWORD),
    ("CreateClubRequest", "handle", CLUB_HANDLE),
    ("CreateClubRequest", "name", CLUB_NAME),
    ("CreateClubRequest", "description", CLUB_DESCRIPTION),
    ("CreateClubRequest", "rules", CLUB_RULES),
    ("UpdateClubRequest", "name", CLUB_NAME),
    ("UpdateClubRequest", "description", CLUB_DESCRIPTION),
    ("UpdateClubRequest", "rules", CLUB_RULES),
    ("ClubPersonRequest", "username", USERNAME),
    ("ClubReportRequest", "text", REPORT_TEXT),
    ("NewThreadRequest", "text", MESSAGE_TEXT),
    ("SendMessageRequest", "text", MESSAGE_TEXT),
    ("MessageReportRequest", "text", REPORT_TEXT),
];
