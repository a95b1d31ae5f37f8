//! Avatars: upload (any common image, decoded and re-encoded server-side at two sizes, never served as
//! uploaded), removal, and serving with long caching under an address that changes at each upload.

use crate::AppState;
use crate::auth::Session;
use crate::client_ip::ClientAddr;
use crate::error::ApiError;
use crate::limits::HOUR;
use crate::routes::me_of;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use std::path::PathBuf;
use stoa_egress::pool::WorkPool;
use stoa_proto::{Club, ErrorBody, Me, UserId};

/// The largest upload: a phone photo fits; anything larger is refused before it is read.
pub const MAX_UPLOAD: usize = 5 * 1024 * 1024;
/// The most pixels an upload may have, read from its header before anything is decoded: a small file can
/// claim an enormous image (a "decompression bomb": a 200 KB PNG of 8,192 x 8,192 decodes to 256 MB).
/// Sixteen megapixels is more than a 256-pixel avatar ever needs and takes in a 12-megapixel phone photo;
/// decoded, it is 64 MB at most, and with two decodes at a time the avatars never hold more than 128 MB.
const MAX_PIXELS: u64 = 16 * 1024 * 1024;
const MAX_SIDE: u32 = 8192;
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4 + 16 * 1024 * 1024;
/// Uploads one person may make in an hour, and one address.
const UPLOADS_PER_HOUR: u32 = 20;
const UPLOADS_PER_ADDRESS_HOUR: u32 = 60;
/// The sizes kept, in pixels: the profile's and the lists'.
const SIZES: [u32; 2] = [256, 64];

/// The avatar routes.
/// The routes, with the pool where uploads are decoded (two at a time, a few waiting, the rest refused):
/// made once per server, and known to these routes alone (and to `/metrics`, which counts its refusals).
pub fn router(pool: WorkPool) -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/avatar", put(upload).delete(remove).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
        .route("/avatars/{user}/{file}", get(serve))
        .route(
            "/api/v1/clubs/{handle}/avatar",
            put(upload_club).delete(remove_club).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/club-avatars/{handle}/{file}", get(serve_club))
        .layer(Extension(pool))
}

/// The pool avatars are decoded on.
pub fn pool() -> WorkPool {
    WorkPool::new("stoa-avatar", 2, 4)
}

/// Moves the avatars an older Stoa kept in the data folder (`avatars/USER-SIZE.jpg`) into the store, where
/// every node of a cluster finds them, and renames the folder `avatars.imported`. Run once at start.
pub async fn import_files(store: &dyn stoa_store::Store, data: &std::path::Path) -> Result<(), stoa_store::StoreError> {
    let dir: PathBuf = data.join("avatars");
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else { return Ok(()) };
    let mut found: std::collections::BTreeMap<i64, Vec<(u32, Vec<u8>)>> = Default::default();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((user, size)) = name.strip_suffix(".jpg").and_then(|n| n.split_once('-')) else { continue };
        let (Ok(user), Ok(size)) = (user.parse::<i64>(), size.parse::<u32>()) else { continue };
        if let Ok(jpeg) = tokio::fs::read(entry.path()).await {
            found.entry(user).or_default().push((size, jpeg));
        }
    }
    let mut imported = 0;
    for (user, images) in found {
        // Only avatars still in use: a removed one's version is 0.
        if store.account(UserId(user)).await?.is_some_and(|a| a.avatar_version > 0) {
            store.set_avatar(UserId(user), &images).await?;
            imported += 1;
        }
    }
    let _ = tokio::fs::rename(&dir, data.join("avatars.imported")).await;
    tracing::info!(imported, "moved the avatars from the data folder into the store");
    Ok(())
}

fn not_an_image() -> ApiError {
    ApiError::bad_request("not_an_image", "Upload a PNG, JPEG, WebP or GIF image.")
}

fn too_large() -> ApiError {
    ApiError::bad_request(
        "image_too_large",
        format!("Upload an image of at most {} megapixels and {MAX_SIDE} pixels a side.", MAX_PIXELS >> 20),
    )
}

/// Reads an upload's header alone (its format from its bytes, not its name or type): a bomb is refused
/// before a byte of it is decoded, and before it waits for the decoding pool. Cheap: no pixel is read.
fn checked_header(bytes: &[u8]) -> Result<(), ApiError> {
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| not_an_image())?
        .into_dimensions()
        .map_err(|_| not_an_image())?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_large());
    }
    Ok(())
}

/// Decodes an upload whose header passed [`checked_header`], and makes the JPEGs of each size, cropped to a
/// centred square. The decoder's own limits hold whatever the header said.
fn resize(bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, ApiError> {
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|_| not_an_image())?;
    if reader.format().is_none() {
        return Err(not_an_image());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(),
        _ => not_an_image(),
    })?;
    let mut out = Vec::new();
    for size in SIZES {
        let square = decoded.resize_to_fill(size, size, image::imageops::FilterType::Lanczos3).to_rgb8();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&square)
            .map_err(ApiError::internal)?;
        out.push((size, jpeg));
    }
    Ok(out)
}

#[utoipa::path(put, path = "/api/v1/me/avatar", tag = "accounts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/*", description = "A PNG, JPEG, WebP or GIF of at most 5 MB and 16 megapixels"),
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Sets the caller's avatar. The image is decoded, cropped to a square and re-encoded at 256 and 64 pixels;
/// the upload itself is never kept or served.
pub async fn upload(
    State(state): State<AppState>,
    Extension(pool): Extension<WorkPool>,
    session: Session,
    ClientAddr(ip): ClientAddr,
    body: Bytes,
) -> Result<Json<Me>, ApiError> {
    let sizes = images(&state, &pool, &session, ip, body).await?;
    let me = session.account.id;
    // In the store, not the data folder: every node of a cluster serves them.
    state.store.set_avatar(me, &sizes).await?;
    let account = state.store.account(me).await?.ok_or_else(ApiError::unauthorized)?;
    Ok(Json(me_of(&account)))
}

/// An upload's images at each size, within the uploader's and their address's hourly limits (a person's
/// own avatar and their clubs' count together), decoded on the pool.
async fn images(
    state: &AppState,
    pool: &WorkPool,
    session: &Session,
    ip: std::net::IpAddr,
    body: Bytes,
) -> Result<Vec<(u32, Vec<u8>)>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("not_an_image", "Upload a PNG, JPEG, WebP or GIF image."));
    }
    state.limiter.check_in(&format!("avatar:{}", session.account.id), UPLOADS_PER_HOUR, HOUR)?;
    state.limiter.check_in(&format!("avatar-ip:{ip}"), UPLOADS_PER_ADDRESS_HOUR, HOUR)?;
    // Decoding and resizing take tens of milliseconds of CPU and up to 64 MB: on a pool of two threads,
    // never one thread per upload.
    let busy = || {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "The server is busy with other images; try again in a moment.",
        )
        .with_retry_after(2)
    };
    checked_header(&body)?;
    pool.run(move || resize(&body)).await.map_err(|_| busy())?
}

#[utoipa::path(put, path = "/api/v1/clubs/{handle}/avatar", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/*", description = "A PNG, JPEG, WebP or GIF of at most 5 MB and 16 megapixels"),
    responses((status = 200, body = Club), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Sets a club's avatar (its admins), processed as a person's.
pub async fn upload_club(
    State(state): State<AppState>,
    Extension(pool): Extension<WorkPool>,
    session: Session,
    ClientAddr(ip): ClientAddr,
    Path(handle): Path<String>,
    body: Bytes,
) -> Result<Json<Club>, ApiError> {
    let club = crate::routes::clubs::editable(&state, &session, &handle).await?;
    let sizes = images(&state, &pool, &session, ip, body).await?;
    state.store.set_club_avatar(club, &sizes).await?;
    crate::routes::clubs::fresh(&state, &session, &handle).await
}

#[utoipa::path(delete, path = "/api/v1/clubs/{handle}/avatar", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path)),
    responses((status = 200, body = Club), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Removes a club's avatar (its admins).
pub async fn remove_club(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
) -> Result<Json<Club>, ApiError> {
    let club = crate::routes::clubs::editable(&state, &session, &handle).await?;
    state.store.clear_club_avatar(club).await?;
    crate::routes::clubs::fresh(&state, &session, &handle).await
}

#[utoipa::path(get, path = "/club-avatars/{handle}/{file}", tag = "clubs", security(("bearer" = [])),
    params(("handle" = String, Path), ("file" = String, Path, description = "VERSION.jpg"), SizeQuery),
    responses((status = 200, content_type = "image/jpeg", description = "The avatar"), (status = 404, body = ErrorBody)))]
/// A club's avatar, for signed-in users. The address names the version, so it is cached for a year.
pub async fn serve_club(
    State(state): State<AppState>,
    session: Session,
    Path((handle, file)): Path<(String, String)>,
    Query(q): Query<SizeQuery>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("There is no such avatar.");
    let (size, version) = size_and_version(&q, &file)?;
    let club = state.store.club_head(&handle).await?.ok_or_else(missing)?;
    if club.avatar_version == 0
        || club.avatar_version != version
        || (club.suspended.is_some() && !session.account.is_admin)
    {
        return Err(missing());
    }
    jpeg(state.store.club_avatar_image(club.id, size).await?.ok_or_else(missing)?)
}

/// The size asked for (256 by default, or 64) and the version the address names (`VERSION.jpg`).
fn size_and_version(q: &SizeQuery, file: &str) -> Result<(u32, i64), ApiError> {
    let size = q.size.unwrap_or(256);
    if !SIZES.contains(&size) {
        return Err(ApiError::bad_request("invalid_size", "An avatar comes in 256 or 64 pixels."));
    }
    let version = file.strip_suffix(".jpg").and_then(|v| v.parse().ok());
    Ok((size, version.ok_or_else(|| ApiError::not_found("There is no such avatar."))?))
}

/// A JPEG, cached privately for a year (its address names its version).
fn jpeg(bytes: Vec<u8>) -> Result<Response, ApiError> {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/me/avatar", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
/// Removes the caller's avatar.
pub async fn remove(State(state): State<AppState>, session: Session) -> Result<Json<Me>, ApiError> {
    let me = session.account.id;
    state.store.clear_avatar(me).await?;
    let account = state.store.account(me).await?.ok_or_else(ApiError::unauthorized)?;
    Ok(Json(me_of(&account)))
}

/// Removes a user's avatar and its images.
pub(crate) async fn remove_files(state: &AppState, user: UserId) {
    if let Err(e) = state.store.clear_avatar(user).await {
        tracing::warn!(%user, error = %e, "cannot remove an avatar");
    }
}

/// `?size=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SizeQuery {
    /// 256 (the default) or 64.
    pub size: Option<u32>,
}

#[utoipa::path(get, path = "/avatars/{user}/{file}", tag = "accounts", security(("bearer" = [])),
    params(("user" = i64, Path), ("file" = String, Path, description = "VERSION.jpg"), SizeQuery),
    responses((status = 200, content_type = "image/jpeg", description = "The avatar"), (status = 404, body = ErrorBody)))]
/// A user's avatar, for signed-in users. The address names the version, so it is cached for a year.
pub async fn serve(
    State(state): State<AppState>,
    _session: Session,
    Path((user, file)): Path<(i64, String)>,
    Query(q): Query<SizeQuery>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("There is no such avatar.");
    let (size, version) = size_and_version(&q, &file)?;
    let account = state.store.account(UserId(user)).await?.ok_or_else(missing)?;
    if account.avatar_version == 0 || account.avatar_version != version {
        return Err(missing());
    }
    jpeg(state.store.avatar_image(account.id, size).await?.ok_or_else(missing)?)
}

/// A profile link: an http or https URL with a host, at most 200 characters, no credentials.
pub fn valid_link(link: &str) -> Result<String, ApiError> {
    let bad =
        || ApiError::bad_request("invalid_link", "A link is an http:// or https:// address of at most 200 characters.");
    let link = link.trim();
    if link.chars().count() > 200 {
        return Err(bad());
    }
    let url = url::Url::parse(link).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad());
    }
    Ok(url.to_string())
}
