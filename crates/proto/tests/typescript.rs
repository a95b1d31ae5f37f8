//! The web client's wire types (`web/src/wire.ts`) are generated from these Rust types. This test fails when
//! the checked-in file is stale; regenerate it with `STOA_WRITE_TS=1 cargo test -p stoa-proto --test typescript`.

use stoa_proto::*;
use ts_rs::{Config, TS};

fn generate() -> String {
    // IDs are i64 in Rust but stay far below 2^53, so they are plain numbers in TypeScript.
    let cfg = Config::new().with_large_int("number");
    let decls = [
        UserId::decl(&cfg),
        RoomId::decl(&cfg),
        ErrorBody::decl(&cfg),
        ErrorDetail::decl(&cfg),
        SignupRequest::decl(&cfg),
        LoginRequest::decl(&cfg),
        AuthResponse::decl(&cfg),
        UserSummary::decl(&cfg),
        Me::decl(&cfg),
        UpdateMeRequest::decl(&cfg),
        Profile::decl(&cfg),
        UserPage::decl(&cfg),
        InviteCreated::decl(&cfg),
        InviteInfo::decl(&cfg),
        InviteList::decl(&cfg),
        Visibility::decl(&cfg),
        HandMode::decl(&cfg),
        Role::decl(&cfg),
        CreateRoomRequest::decl(&cfg),
        StageMember::decl(&cfg),
        RoomInfo::decl(&cfg),
        RoomOutputs::decl(&cfg),
        RecordingKind::decl(&cfg),
        Recording::decl(&cfg),
        RecordingList::decl(&cfg),
        RestreamRequest::decl(&cfg),
        RestreamStatus::decl(&cfg),
        ListenInfo::decl(&cfg),
        NewWebhook::decl(&cfg),
        Webhook::decl(&cfg),
        WebhookList::decl(&cfg),
        WebhookDelivery::decl(&cfg),
        WebhookDeliveries::decl(&cfg),
        Hallway::decl(&cfg),
        AudienceMember::decl(&cfg),
        AudiencePage::decl(&cfg),
        InviteToRoomRequest::decl(&cfg),
        Health::decl(&cfg),
        ClusterHealth::decl(&cfg),
        ClusterNode::decl(&cfg),
        Ready::decl(&cfg),
        ClientMessage::decl(&cfg),
        ClientCommand::decl(&cfg),
        ChatMode::decl(&cfg),
        Reaction::decl(&cfg),
        ReactionCount::decl(&cfg),
        ChatMessage::decl(&cfg),
        ChatState::decl(&cfg),
        Grant::decl(&cfg),
        IceServer::decl(&cfg),
        IceServers::decl(&cfg),
        ServerEvent::decl(&cfg),
        ClubPolicy::decl(&cfg),
        ClubRole::decl(&cfg),
        ClubStanding::decl(&cfg),
        CreateClubRequest::decl(&cfg),
        UpdateClubRequest::decl(&cfg),
        ClubViewer::decl(&cfg),
        Club::decl(&cfg),
        ClubSummary::decl(&cfg),
        ClubOf::decl(&cfg),
        ClubList::decl(&cfg),
        ClubMember::decl(&cfg),
        ClubMemberPage::decl(&cfg),
        ClubPersonRequest::decl(&cfg),
        SetClubRoleRequest::decl(&cfg),
        AnswerClubRequest::decl(&cfg),
        ClubJoined::decl(&cfg),
        RoomClub::decl(&cfg),
        ClubSuggestion::decl(&cfg),
        AdminClub::decl(&cfg),
        AdminClubs::decl(&cfg),
        ClubReportRequest::decl(&cfg),
        NewThreadRequest::decl(&cfg),
        SendMessageRequest::decl(&cfg),
        Message::decl(&cfg),
        Thread::decl(&cfg),
        ThreadList::decl(&cfg),
        MessagePage::decl(&cfg),
        MuteRequest::decl(&cfg),
        ReadUpToRequest::decl(&cfg),
        InboxCounts::decl(&cfg),
        MessageReportRequest::decl(&cfg),
        AddMembersRequest::decl(&cfg),
        EventId::decl(&cfg),
        CreateEventRequest::decl(&cfg),
        UpdateEventRequest::decl(&cfg),
        EventState::decl(&cfg),
        EventHost::decl(&cfg),
        EventInfo::decl(&cfg),
        EventList::decl(&cfg),
        RsvpPage::decl(&cfg),
        CalendarFeed::decl(&cfg),
        NotificationKind::decl(&cfg),
        Notification::decl(&cfg),
        NotificationPage::decl(&cfg),
        MarkReadRequest::decl(&cfg),
        NotificationUpdate::decl(&cfg),
        PushKeys::decl(&cfg),
        PushSubscriptionRequest::decl(&cfg),
        PushKindSetting::decl(&cfg),
        PushSettings::decl(&cfg),
        UpdatePushSettings::decl(&cfg),
        PushPayload::decl(&cfg),
        PingRequest::decl(&cfg),
        SearchResults::decl(&cfg),
        Suggestion::decl(&cfg),
        Suggestions::decl(&cfg),
        Preview::decl(&cfg),
        ModerationAction::decl(&cfg),
        ModerationEntry::decl(&cfg),
        ModerationLog::decl(&cfg),
        ChatRecord::decl(&cfg),
        ReportReason::decl(&cfg),
        ReportRequest::decl(&cfg),
        ReportReceipt::decl(&cfg),
        Report::decl(&cfg),
        ReportDetail::decl(&cfg),
        ReportList::decl(&cfg),
        ResolveReportRequest::decl(&cfg),
        SuspendRequest::decl(&cfg),
        AdminUser::decl(&cfg),
        Invitee::decl(&cfg),
        AdminSettings::decl(&cfg),
        AdminRooms::decl(&cfg),
        AdminLogEntry::decl(&cfg),
        AdminLog::decl(&cfg),
        SessionInfo::decl(&cfg),
        SessionList::decl(&cfg),
        ChangePasswordRequest::decl(&cfg),
        DeleteAccountRequest::decl(&cfg),
        AccountExport::decl(&cfg),
        ExportedEvent::decl(&cfg),
        ExportedMessage::decl(&cfg),
        ExportedReport::decl(&cfg),
        Scope::decl(&cfg),
        CreateTokenRequest::decl(&cfg),
        TokenInfo::decl(&cfg),
        TokenCreated::decl(&cfg),
        TokenList::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/proto by `STOA_WRITE_TS=1 cargo test -p stoa-proto --test typescript`.\n// Do not edit by hand: change the Rust types and regenerate.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(decl.trim());
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn the_web_clients_wire_types_are_generated_from_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/wire.ts");
    let fresh = generate();
    if std::env::var_os("STOA_WRITE_TS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "web/src/wire.ts is stale: regenerate it with `STOA_WRITE_TS=1 cargo test -p stoa-proto --test typescript`"
    );
}
