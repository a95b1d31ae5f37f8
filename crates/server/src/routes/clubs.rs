//! Clubs: communities with a handle, members in roles (owner, admins, leaders, members) and followers.
//! Membership is open, by approval or by invitation. What each role may do is `stoa_store::may`; the
//! bounds that must hold across nodes (clubs made a day and owned, requests and invitations waiting) are the
//! store's; how fast one person may ask or invite is this node's limiter.

use crate::AppState;
use crate::auth::Session;
use crate::error::{ApiError, ApiJson};
use crate::routes::{CursorQuery, page_limit};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use stoa_proto::limits::{CLUB_DESCRIPTION, CLUB_HANDLE, CLUB_NAME, CLUB_RULES};
use stoa_proto::{
    AnswerClubRequest, Club, ClubJoined, ClubList, ClubMember, ClubMemberPage, ClubOf, ClubPersonRequest, ClubRole,
    ClubStanding, ClubSummary, ClubViewer, CreateClubRequest, ErrorBody, EventList, Hallway, NotificationKind,
    RecordingList, SetClubRoleRequest, UpdateClubRequest, UserId,
};
use stoa_store::{ClubAction, ClubRow, InviteOutcome, JoinOutcome, Membership, StoreError, may};

/// Requests to join one person may make in an hour (a request, withdrawn and made again, tells the admins
/// again).
const JOIN_REQUESTS_PER_HOUR: u32 = 30;
/// Invitations one admin may send in an hour.
const INVITATIONS_PER_HOUR: u32 = 100;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/clubs", post(create_club))
        .route("/api/v1/clubs/{handle}", get(club).patch(update_club))
        .route("/api/v1/clubs/{handle}/join", post(join))
        .route("/api/v1/clubs/{handle}/membership", delete(leave))
        .route("/api/v1/clubs/{handle}/follow", post(follow).delete(unfollow))
        .route("/api/v1/clubs/{handle}/members", get(members))
        .route("/api/v1/clubs/{handle}/members/{username}", delete(remove_member))
        .route("/api/v1/clubs/{handle}/members/{username}/role", put(set_role))
        .route("/api/v1/clubs/{handle}/requests", get(requests))
        .route("/api/v1/clubs/{handle}/requests/{username}", post(answer_request))
        .route("/api/v1/clubs/{handle}/invitations", get(invitations).post(invite))
        .route("/api/v1/clubs/{handle}/invitations/{username}", delete(withdraw_invitation))
        .route("/api/v1/clubs/{handle}/bans", get(bans).post(ban))
        .route("/api/v1/clubs/{handle}/bans/{username}", delete(unban))
        .route("/api/v1/clubs/{handle}/transfer", post(transfer))
        .route("/api/v1/clubs/{handle}/rooms", get(club_rooms))
        .route("/api/v1/clubs/{handle}/events", get(club_events))
        .route("/api/v1/clubs/{handle}/recordings", get(club_recordings))
        .route("/api/v1/users/{username}/clubs", get(clubs_of_user))
        .route("/api/v1/me/clubs", get(my_clubs))
}

/// A club's handle, as its owner typed it: folded to lower case and checked like a username.
fn valid_handle(handle: &str) -> Result<String, ApiError> {
    let handle = crate::routes::normalize_username(handle);
    if !(CLUB_HANDLE.min..=CLUB_HANDLE.max).contains(&handle.len())
        || !handle.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ApiError::bad_request(
            "invalid_handle",
            "A club's handle has 3 to 20 characters: lower-case letters, digits and underscores.",
        ));
    }
    Ok(handle)
}

fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let len = name.chars().count();
    if !(CLUB_NAME.min..=CLUB_NAME.max).contains(&len) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("A club's name has {} to {} characters.", CLUB_NAME.min, CLUB_NAME.max),
        ));
    }
    Ok(name.to_string())
}

fn valid_description(text: &str) -> Result<String, ApiError> {
    crate::routes::moderation::valid_text(text, 0, CLUB_DESCRIPTION.max, "invalid_description", "A club's description")
}

fn valid_rules(text: &str) -> Result<String, ApiError> {
    crate::routes::moderation::valid_text(text, 0, CLUB_RULES.max, "invalid_rules", "A club's rules")
}

/// Someone's standing in a club fell (removed, banned, left): they leave the club's live rooms that its
/// rules no longer let them see, wherever those run, told why.
async fn expel_from_rooms(state: &AppState, club: &ClubRow, user: UserId) {
    for (_, room) in state.rooms.handles_with_ids() {
        let access = room.snapshot.borrow().access.clone();
        if access.club != Some(club.id) {
            continue;
        }
        let Ok((relations, _)) = crate::visibility::relations(state, user, &access.moderators, access.club).await
        else {
            continue;
        };
        if !stoa_room::may_see(&access, user, &relations) {
            let message = format!("You are no longer a member of {}, whose room this is.", club.name);
            let expel = crate::live::RoomRequest::Expel { user, reason: "club".into(), message };
            // The room publishes itself again for this, present or not, and the node that plays it over WHEP
            // ends their players there (`webrtc::end_unwelcome_players`).
            let _ = room.tx.send(crate::live::RoomInput::told(expel)).await;
        }
    }
}

/// Tells `user` news of a club (the notifier skips it if a block stands between them and `actor`).
fn tell(state: &AppState, user: UserId, kind: NotificationKind, actor: Option<UserId>, club: &ClubRow) {
    state.notifier.tell(stoa_store::NewNotification {
        user,
        kind,
        actor,
        room: None,
        event: None,
        title: club.name.clone(),
        club: Some(club.handle.clone()),
    });
}

fn no_such_club() -> ApiError {
    ApiError::not_found("There is no such club.")
}

/// A club by handle as `session` may see it, with the caller's place in it: a suspended club is there for
/// the server's admins only.
async fn find(state: &AppState, session: &Session, handle: &str) -> Result<(ClubRow, Membership), ApiError> {
    let club = state.store.club_head(&handle.to_ascii_lowercase()).await?.ok_or_else(no_such_club)?;
    if club.suspended.is_some() && !session.account.is_admin {
        return Err(no_such_club());
    }
    let membership = state.store.membership(club.id, session.account.id).await?;
    Ok((club, membership))
}

/// The same, refused with 403 unless the caller's role may do `action`.
async fn find_for(
    state: &AppState,
    session: &Session,
    handle: &str,
    action: ClubAction,
) -> Result<(ClubRow, Membership), ApiError> {
    let (club, membership) = find(state, session, handle).await?;
    if !may(membership.member_role(), action) {
        return Err(ApiError::forbidden("not_club_admin", "Only the club's admins (or its owner) can do this."));
    }
    Ok((club, membership))
}

fn view(club: ClubRow, membership: Membership) -> Club {
    Club {
        avatar: (club.avatar_version > 0).then(|| club_avatar_path(&club.handle, club.avatar_version)),
        handle: club.handle,
        name: club.name,
        description: club.description,
        rules: club.rules,
        policy: club.policy,
        owner: club.owner,
        members: club.members,
        followers: club.followers,
        created_at: club.created_at,
        you: ClubViewer { standing: membership.standing, role: membership.role, following: membership.following },
    }
}

/// Where a club's avatar is served.
fn club_avatar_path(handle: &str, version: i64) -> String {
    format!("/club-avatars/{handle}/{version}.jpg")
}

/// The ID of a club the caller may edit (its admins), or 403/404.
pub(crate) async fn editable(state: &AppState, session: &Session, handle: &str) -> Result<i64, ApiError> {
    Ok(find_for(state, session, handle, ClubAction::Edit).await?.0.id)
}

pub(crate) fn summary(club: &ClubRow) -> ClubSummary {
    ClubSummary {
        handle: club.handle.clone(),
        name: club.name.clone(),
        avatar: (club.avatar_version > 0).then(|| club_avatar_path(&club.handle, club.avatar_version)),
        policy: club.policy,
        members: club.members,
    }
}

/// The club a new room (or event) is to be hosted by, if the caller may host for it (a leader, an admin or
/// its owner), with its admins, who will be the room's moderators; 404 for a club the caller cannot see.
pub(crate) async fn host_for(
    state: &AppState,
    session: &Session,
    handle: &str,
) -> Result<(stoa_room::ClubTag, Vec<UserId>), ApiError> {
    let (club, membership) = find(state, session, handle).await?;
    if club.suspended.is_some() {
        return Err(no_such_club());
    }
    if !may(membership.member_role(), ClubAction::Host) {
        return Err(ApiError::forbidden(
            "not_club_leader",
            "Only the club's leaders, admins and owner can start its rooms and schedule its events.",
        ));
    }
    let admins = state.store.club_admins(club.id).await?;
    Ok((stoa_room::ClubTag { id: club.id, handle: club.handle, name: club.name }, admins))
}

/// A person by username, or 404 (the same answer whether they never existed or were deleted).
async fn person(state: &AppState, username: &str) -> Result<UserId, ApiError> {
    let name = username.trim().to_ascii_lowercase();
    state
        .store
        .resolve_usernames(std::slice::from_ref(&name))
        .await?
        .first()
        .map(|u| u.id)
        .ok_or_else(|| ApiError::not_found("There is no such user."))
}

pub(crate) async fn fresh(state: &AppState, session: &Session, handle: &str) -> Result<Json<Club>, ApiError> {
    let (_, membership) = find(state, session, handle).await?;
    let club = state.store.club(&handle.to_ascii_lowercase()).await?.ok_or_else(no_such_club)?;
    Ok(Json(view(club, membership)))
}

#[utoipa::path(post, path = "/api/v1/clubs", tag = "clubs", security(("bearer" = [])),
    request_body = CreateClubRequest,
    responses((status = 201, body = Club), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Makes a club, owned by the caller. A person makes at most 3 clubs a day and owns at most 10.
pub async fn create_club(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<CreateClubRequest>,
) -> Result<(StatusCode, Json<Club>), ApiError> {
    let new = stoa_store::NewClub {
        handle: valid_handle(&body.handle)?,
        name: valid_name(&body.name)?,
        description: valid_description(&body.description)?,
        rules: valid_rules(&body.rules)?,
        policy: body.policy,
        owner: session.account.id,
    };
    let club = state.store.create_club(&new).await.map_err(|e| match e {
        StoreError::HandleTaken => {
            ApiError::new(StatusCode::CONFLICT, "handle_taken", "Another club has that handle; pick another.")
        }
        StoreError::RateLimited => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_clubs",
            format!(
                "You can make {} clubs a day and own {} at once.",
                stoa_store::CLUBS_PER_DAY,
                stoa_store::CLUBS_OWNED
            ),
        ),
        other => other.into(),
    })?;
    tracing::info!(club = %club.handle, owner = %session.account.username, "club made");
    let membership = state.store.membership(club.id, session.account.id).await?;
    Ok((StatusCode::CREATED, Json(view(club, membership))))
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = Club), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A club, with the caller's place in it.
pub async fn club(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<Club>, ApiError> {
    fresh(&state, &session, &handle).await
}

#[utoipa::path(patch, path = "/api/v1/clubs/{handle}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = UpdateClubRequest,
    responses((status = 200, body = Club), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Changes a club's name, description, rules or policy (its admins). Requests waiting when a club turns
/// open still wait for an answer.
pub async fn update_club(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<UpdateClubRequest>,
) -> Result<Json<Club>, ApiError> {
    let name = body.name.as_deref().map(valid_name).transpose()?;
    let description = body.description.as_deref().map(valid_description).transpose()?;
    let rules = body.rules.as_deref().map(valid_rules).transpose()?;
    let (club, _) = find_for(&state, &session, &handle, ClubAction::Edit).await?;
    state.store.update_club(club.id, name.as_deref(), description.as_deref(), rules.as_deref(), body.policy).await?;
    fresh(&state, &session, &handle).await
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/join", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = ClubJoined), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Joins an open club, accepts an invitation, or asks to join a club that approves its members.
pub async fn join(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<ClubJoined>, ApiError> {
    let me = session.account.id;
    let (club, membership) = find(&state, &session, &handle).await?;
    if membership.standing.is_none() && club.policy == stoa_proto::ClubPolicy::Approval {
        state.limiter.check_in(&format!("club-join:{me}"), JOIN_REQUESTS_PER_HOUR, crate::limits::HOUR)?;
    }
    let standing = match state.store.join_club(club.id, me).await? {
        JoinOutcome::Joined | JoinOutcome::AlreadyMember => ClubStanding::Member,
        JoinOutcome::StillWaiting => ClubStanding::Requested,
        JoinOutcome::Requested => {
            for admin in state.store.club_admins(club.id).await? {
                tell(&state, admin, NotificationKind::ClubRequest, Some(me), &club);
            }
            ClubStanding::Requested
        }
        JoinOutcome::Banned => {
            return Err(ApiError::forbidden("banned_from_club", "The club's admins have banned you from it."));
        }
        JoinOutcome::InvitationOnly => {
            return Err(ApiError::forbidden("invitation_only", "This club takes members by invitation only."));
        }
        JoinOutcome::TooManyOfYours => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "You have {} requests to join clubs waiting; withdraw one first.",
                    stoa_store::CLUB_REQUESTS_PER_PERSON
                ),
            ));
        }
        JoinOutcome::TooManyForClub => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "club_requests_full",
                "This club has too many requests waiting; try again later.",
            ));
        }
    };
    Ok(Json(ClubJoined { standing }))
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/membership", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Leaves a club, withdraws a request to join it, or declines an invitation. An owner who leaves is
/// succeeded by the longest-standing admin, else leader, else member; a club whose last member leaves is
/// gone.
pub async fn leave(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    let outcome = state.store.leave_club(club.id, session.account.id).await?;
    expel_from_rooms(&state, &club, session.account.id).await;
    tracing::info!(club = %club.handle, user = %session.account.username, ?outcome, "left a club");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/follow", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = Club), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Follows a club: its rooms show in the caller's hallway.
pub async fn follow(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<Club>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    state.store.follow_club(club.id, session.account.id, true).await?;
    fresh(&state, &session, &handle).await
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/follow", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = Club), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Stops following a club.
pub async fn unfollow(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<Club>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    state.store.follow_club(club.id, session.account.id, false).await?;
    fresh(&state, &session, &handle).await
}

/// A page of a club's people of one standing.
async fn people(
    state: &AppState,
    club: &ClubRow,
    standing: ClubStanding,
    viewer: UserId,
    query: CursorQuery,
) -> Result<Json<ClubMemberPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let page = state.store.club_people(club.id, standing, viewer, query.cursor, limit).await?;
    Ok(Json(ClubMemberPage {
        members: page
            .people
            .into_iter()
            .map(|(user, standing, role, since)| ClubMember { user, standing, role, since })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/members", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), CursorQuery),
    responses((status = 200, body = ClubMemberPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// A club's members with their roles, in order of arrival (leaving out anyone who blocks the caller).
pub async fn members(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<CursorQuery>,
) -> Result<Json<ClubMemberPage>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    people(&state, &club, ClubStanding::Member, session.account.id, query).await
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/requests", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), CursorQuery),
    responses((status = 200, body = ClubMemberPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Requests to join waiting for an answer, oldest first (the club's admins).
pub async fn requests(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<CursorQuery>,
) -> Result<Json<ClubMemberPage>, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    people(&state, &club, ClubStanding::Requested, session.account.id, query).await
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/invitations", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), CursorQuery),
    responses((status = 200, body = ClubMemberPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Invitations not yet answered (the club's admins).
pub async fn invitations(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<CursorQuery>,
) -> Result<Json<ClubMemberPage>, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    people(&state, &club, ClubStanding::Invited, session.account.id, query).await
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/bans", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), CursorQuery),
    responses((status = 200, body = ClubMemberPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Who is banned (the club's admins).
pub async fn bans(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<CursorQuery>,
) -> Result<Json<ClubMemberPage>, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    people(&state, &club, ClubStanding::Banned, session.account.id, query).await
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/requests/{username}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("username" = String, Path)), request_body = AnswerClubRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Approves or refuses a request to join (the club's admins). A refused person is not told.
pub async fn answer_request(
    State(state): State<AppState>,
    session: Session,
    Path((handle, username)): Path<(String, String)>,
    ApiJson(body): ApiJson<AnswerClubRequest>,
) -> Result<StatusCode, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    let user = person(&state, &username).await?;
    if !state.store.answer_club_request(club.id, user, body.approve).await? {
        return Err(ApiError::not_found("That person has no request to join this club waiting."));
    }
    if body.approve {
        tell(&state, user, NotificationKind::ClubApproved, None, &club);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/invitations", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = ClubPersonRequest,
    responses((status = 201, body = ClubJoined), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Invites someone to the club (its admins). Someone who had asked to join becomes a member at once.
pub async fn invite(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<ClubPersonRequest>,
) -> Result<(StatusCode, Json<ClubJoined>), ApiError> {
    let me = session.account.id;
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    let user = person(&state, &body.username).await?;
    state.limiter.check_in(&format!("club-invite:{me}"), INVITATIONS_PER_HOUR, crate::limits::HOUR)?;
    let too_many = |what: &str| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_invitations", what.to_string());
    let standing = match state.store.invite_to_club(club.id, me, user).await? {
        InviteOutcome::Invited => {
            tell(&state, user, NotificationKind::ClubInvite, Some(me), &club);
            ClubStanding::Invited
        }
        InviteOutcome::Joined => {
            tell(&state, user, NotificationKind::ClubApproved, None, &club);
            ClubStanding::Member
        }
        InviteOutcome::Already => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_in_club",
                "That person is already a member, or already invited.",
            ));
        }
        InviteOutcome::Banned => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "banned_from_club",
                "That person is banned from the club: lift the ban first.",
            ));
        }
        InviteOutcome::Blocked => return Err(ApiError::forbidden("blocked", "You can't invite this person.")),
        InviteOutcome::TooManyForClub => {
            return Err(too_many(&format!(
                "The club has {} invitations waiting; withdraw some first.",
                stoa_store::CLUB_INVITATIONS_PER_CLUB
            )));
        }
        InviteOutcome::TooManyForPerson => {
            return Err(too_many("That person has too many invitations to clubs waiting."));
        }
    };
    Ok((StatusCode::CREATED, Json(ClubJoined { standing })))
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/invitations/{username}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Withdraws an invitation not yet answered (the club's admins).
pub async fn withdraw_invitation(
    State(state): State<AppState>,
    session: Session,
    Path((handle, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    let user = person(&state, &username).await?;
    if !state.store.withdraw_club_invitation(club.id, user).await? {
        return Err(ApiError::not_found("That person has no invitation to this club waiting."));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/clubs/{handle}/members/{username}/role", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("username" = String, Path)), request_body = SetClubRoleRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Gives a member a role: admins make leaders and members; only the owner makes or unmakes admins. A club
/// changes owner only by `transfer`.
pub async fn set_role(
    State(state): State<AppState>,
    session: Session,
    Path((handle, username)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetClubRoleRequest>,
) -> Result<StatusCode, ApiError> {
    if body.role == ClubRole::Owner {
        return Err(ApiError::bad_request("invalid_role", "A club changes owner by a transfer, not a role."));
    }
    let (club, mine) = find(&state, &session, &handle).await?;
    let user = person(&state, &username).await?;
    let theirs = state.store.membership(club.id, user).await?.member_role().ok_or_else(not_a_member)?;
    if !may(mine.member_role(), ClubAction::SetRole(theirs, body.role)) {
        return Err(ApiError::forbidden("not_allowed", "Your role in the club cannot give that person that role."));
    }
    if !state.store.set_club_role(club.id, user, body.role).await? {
        return Err(not_a_member());
    }
    Ok(StatusCode::NO_CONTENT)
}

fn not_a_member() -> ApiError {
    ApiError::not_found("That person is not a member of this club.")
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/members/{username}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Removes a member (the club's admins; an admin only by the owner). They may join again by the club's
/// policy: to keep them out, ban them.
pub async fn remove_member(
    State(state): State<AppState>,
    session: Session,
    Path((handle, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (club, mine) = find(&state, &session, &handle).await?;
    let user = person(&state, &username).await?;
    let theirs = state.store.membership(club.id, user).await?.member_role().ok_or_else(not_a_member)?;
    if !may(mine.member_role(), ClubAction::Remove(Some(theirs))) {
        return Err(ApiError::forbidden("not_allowed", "Your role in the club cannot remove that person."));
    }
    if !state.store.remove_from_club(club.id, user, false).await? {
        return Err(not_a_member());
    }
    expel_from_rooms(&state, &club, user).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/bans", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = ClubPersonRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Bans someone, member or not (the club's admins; an admin only by the owner): they leave the club, their
/// request or invitation goes, and they cannot join, ask or be invited until the ban is lifted.
pub async fn ban(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<ClubPersonRequest>,
) -> Result<StatusCode, ApiError> {
    let (club, mine) = find(&state, &session, &handle).await?;
    let user = person(&state, &body.username).await?;
    if user == session.account.id {
        return Err(ApiError::bad_request("self", "You cannot ban yourself."));
    }
    let theirs = state.store.membership(club.id, user).await?.member_role();
    if !may(mine.member_role(), ClubAction::Remove(theirs)) {
        return Err(ApiError::forbidden("not_allowed", "Your role in the club cannot ban that person."));
    }
    state.store.remove_from_club(club.id, user, true).await?;
    expel_from_rooms(&state, &club, user).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/bans/{username}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Lifts a ban (the club's admins).
pub async fn unban(
    State(state): State<AppState>,
    session: Session,
    Path((handle, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::ManageMembership).await?;
    let user = person(&state, &username).await?;
    if !state.store.unban_from_club(club.id, user).await? {
        return Err(ApiError::not_found("That person is not banned from this club."));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/clubs/{handle}/transfer", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)), request_body = ClubPersonRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Hands the club to one of its members (its owner only); the owner stays on as an admin.
pub async fn transfer(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    ApiJson(body): ApiJson<ClubPersonRequest>,
) -> Result<StatusCode, ApiError> {
    let (club, _) = find_for(&state, &session, &handle, ClubAction::Transfer).await?;
    let user = person(&state, &body.username).await?;
    if user == session.account.id {
        return Err(ApiError::bad_request("self", "The club is already yours."));
    }
    if !state.store.transfer_club(club.id, user).await? {
        return Err(not_a_member());
    }
    tracing::info!(club = %club.handle, to = %body.username, "club handed over");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/rooms", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = Hallway), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The club's live rooms that the caller may see, largest first.
pub async fn club_rooms(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<Hallway>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    let me = session.account.id;
    let snapshots: Vec<_> = state.rooms.snapshots().into_iter().filter(|s| s.access.club == Some(club.id)).collect();
    let moderators: Vec<UserId> = snapshots.iter().flat_map(|s| s.access.moderators.iter().copied()).collect();
    let (relations, _) = crate::visibility::relations(&state, me, &moderators, [club.id]).await?;
    let mut rooms: Vec<stoa_proto::RoomInfo> =
        snapshots.iter().filter(|s| stoa_room::may_see(&s.access, me, &relations)).map(|s| s.info.clone()).collect();
    rooms.sort_by(|a, b| b.listener_count.cmp(&a.listener_count).then(a.id.cmp(&b.id)));
    Ok(Json(Hallway { rooms }))
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/events", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The club's upcoming and live events that the caller may see, soonest first.
pub async fn club_events(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<EventList>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    let me = session.account.id;
    let events = state.store.club_events(me, club.id, crate::clock::now_secs(), 100).await?;
    Ok(Json(EventList { events: events.iter().map(|e| crate::routes::events::event_info(&state, e, me)).collect() }))
}

#[utoipa::path(get, path = "/api/v1/clubs/{handle}/recordings", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = RecordingList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Replays and clips of the club's rooms that the caller may hear, newest first.
pub async fn club_recordings(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<RecordingList>, ApiError> {
    let (club, _) = find(&state, &session, &handle).await?;
    let records = state.store.recordings_of_club(club.id, 100).await?;
    crate::routes::egress::visible_list(&state, &session, records).await
}

pub(crate) fn club_list(rows: Vec<stoa_store::ClubOfRow>) -> Json<ClubList> {
    Json(ClubList {
        clubs: rows
            .into_iter()
            .map(|r| ClubOf { club: summary(&r.club), standing: r.standing, role: r.role })
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/users/{username}/clubs", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = ClubList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The clubs a person is a member of, with their roles.
pub async fn clubs_of_user(
    State(state): State<AppState>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<ClubList>, ApiError> {
    let user = person(&state, &username).await?;
    let own = user == session.account.id;
    Ok(club_list(state.store.clubs_of(user, own).await?))
}

#[utoipa::path(get, path = "/api/v1/me/clubs", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ClubList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
/// The caller's clubs, with the invitations they have not answered and the requests still waiting.
pub async fn my_clubs(State(state): State<AppState>, session: Session) -> Result<Json<ClubList>, ApiError> {
    Ok(club_list(state.store.clubs_of(session.account.id, true).await?))
}
