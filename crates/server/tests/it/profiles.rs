//! Profiles: avatars (validated, re-encoded at two sizes, cached by version) and links.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// CRC-32 as PNG chunks use it (ISO 3309), so that the doctored header is a valid one.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

async fn upload(who: &common::Client, body: Vec<u8>, content_type: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/api/v1/me/avatar", who.base))
        .bearer_auth(&who.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_avatar_is_resized_to_two_sizes_served_with_caching_and_bad_uploads_change_nothing() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;
    let (s, me) = upload(&ada, png(640, 480), "image/png").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let url = me["avatar"].as_str().unwrap().to_string();
    let (_, profile) = bob.get("/api/v1/users/ada").await;
    assert_eq!(profile["avatar"], url.as_str());

    for (size, expect) in [("", 256), ("?size=64", 64)] {
        let resp = reqwest::Client::new()
            .get(format!("{}{url}{size}", server.base))
            .bearer_auth(&bob.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        assert!(resp.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (expect, expect), "a centred square");
    }
    let resp = reqwest::Client::new().get(format!("{}{url}", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "for signed-in users");

    // Bad uploads: a clear error, and the avatar stays as it was.
    let mut bomb = png(1, 1);
    // The PNG header's width and height (bytes 16..24) claim 100,000 x 100,000 pixels.
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    for (body, ct, status, code) in [
        (b"GIF89a".to_vec(), "image/gif", StatusCode::BAD_REQUEST, "not_an_image"),
        (b"%PDF-1.7 a document".to_vec(), "image/png", StatusCode::BAD_REQUEST, "not_an_image"),
        (Vec::new(), "image/png", StatusCode::BAD_REQUEST, "not_an_image"),
        (bomb, "image/png", StatusCode::BAD_REQUEST, "image_too_large"),
        (vec![0u8; 50 * 1024 * 1024], "image/png", StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    ] {
        let (s, b) = upload(&ada, body, ct).await;
        assert_eq!((s, b["error"]["code"].as_str().unwrap_or_default()), (status, code), "{b}");
    }
    let (_, me) = ada.get("/api/v1/me").await;
    assert_eq!(me["avatar"], url.as_str());

    // A new upload changes the address; the old one is gone.
    let (_, me) = upload(&ada, png(100, 300), "image/png").await;
    let url2 = me["avatar"].as_str().unwrap().to_string();
    assert_ne!(url2, url);
    let (s, _) = bob.get(&url).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, me) = ada.delete("/api/v1/me/avatar").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["avatar"], Value::Null);
    let (s, _) = bob.get(&url2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn profiles_carry_up_to_two_links_and_the_events_someone_hosts() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;
    let (s, me) =
        ada.patch("/api/v1/me", json!({"links": ["https://ada.example.org", " http://blog.example.org/ada "]})).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["links"], json!(["https://ada.example.org/", "http://blog.example.org/ada"]));
    for (links, code) in [
        (json!(["javascript:alert(1)"]), "invalid_link"),
        (json!(["https://a.example", "https://b.example", "https://c.example"]), "too_many_links"),
        (json!(["https://user:pw@example.org"]), "invalid_link"),
        (json!([format!("https://example.org/{}", "x".repeat(200))]), "invalid_link"),
    ] {
        let (s, b) = ada.patch("/api/v1/me", json!({"links": links, "bio": "changed?"})).await;
        assert_eq!((s, b["error"]["code"].as_str().unwrap()), (StatusCode::BAD_REQUEST, code));
    }
    let (_, profile) = bob.get("/api/v1/users/ada").await;
    assert_eq!(profile["links"].as_array().unwrap().len(), 2);
    assert_eq!(profile["bio"], "", "a refused change changes nothing");
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(3)).replace_nanosecond(0).unwrap();
    let starts = t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, ev) =
        ada.post("/api/v1/events", json!({"title": "Ada's hour", "starts_at": starts, "visibility": "open"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, hosted) = bob.get("/api/v1/users/ada/events").await;
    assert_eq!(hosted["events"][0]["id"], ev["id"]);
    let (_, me) = ada.patch("/api/v1/me", json!({"links": []})).await;
    assert_eq!(me["links"], json!([]));
}

#[tokio::test]
async fn avatars_an_older_stoa_kept_in_the_data_folder_move_into_the_store_at_start() {
    let mut server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    let bob = server.user("bob").await;
    server.stop().await;
    // What an older Stoa left: the avatar's version on the account, and its images as files.
    let store = server.store().await;
    store.set_avatar(stoa_proto::UserId(ada.id), &[]).await.unwrap();
    let folder = server.dir.path().join("avatars");
    std::fs::create_dir_all(&folder).unwrap();
    let (big, small) = (vec![0xff, 0xd8, 1, 2, 3], vec![0xff, 0xd8, 4, 5]);
    std::fs::write(folder.join(format!("{}-256.jpg", ada.id)), &big).unwrap();
    std::fs::write(folder.join(format!("{}-64.jpg", ada.id)), &small).unwrap();
    // A removed avatar's leftover file is not brought back.
    std::fs::write(folder.join(format!("{}-256.jpg", bob.id)), &big).unwrap();

    let running = stoa_server::start(server.config.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let bob = common::Client { base: base.clone(), ..bob };
    let (_, profile) = bob.get("/api/v1/users/ada").await;
    let url = profile["avatar"].as_str().expect("ada still has an avatar").to_string();
    for (size, expect) in [("", &big), ("?size=64", &small)] {
        let resp =
            reqwest::Client::new().get(format!("{base}{url}{size}")).bearer_auth(&bob.token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&resp.bytes().await.unwrap().to_vec(), expect);
    }
    let (_, me) = bob.get("/api/v1/me").await;
    assert_eq!(me["avatar"], Value::Null, "{me}");
    assert!(!folder.exists() && server.dir.path().join("avatars.imported").exists());
    running.stop().await.unwrap();
}

/// Deflate's bits, least significant first; Huffman codes go most significant first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    fn code(&mut self, code: u32, count: u32) {
        let reversed = (0..count).fold(0, |r, i| r | (((code >> i) & 1) << (count - 1 - i)));
        self.put(reversed, count);
    }
}

/// A real, valid PNG of `side` x `side` black pixels (1-bit grey), whose image data is a zlib stream of
/// zeros written as back-references: 8,192 x 8,192 takes about 50 KB, and decodes to 64 MB or more.
fn black_png(side: u32) -> Vec<u8> {
    let raw = u64::from(side) * (1 + u64::from(side.div_ceil(8)));
    let mut bits = Bits { out: vec![0x78, 0x01], acc: 0, n: 0 };
    bits.put(1, 1); // the last block
    bits.put(1, 2); // fixed Huffman codes
    bits.code(0x30, 8); // a literal 0
    let mut left = raw - 1;
    while left >= 258 {
        bits.code(0xc5, 8); // length 258 (code 285)
        bits.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        bits.code(0x30, 8);
    }
    bits.code(0, 7); // end of block
    bits.put(0, 7);
    let mut zlib = bits.out;
    let adler = ((raw % 65_521) << 16) as u32 | 1;
    zlib.extend_from_slice(&adler.to_be_bytes());
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        c.extend_from_slice(&body);
        c.extend_from_slice(&crc32(&body).to_be_bytes());
        c
    };
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn avatar_bombs_are_refused_from_their_header_and_uploads_are_limited() {
    let server = common::TestServer::start().await;
    let ada = server.user("ada").await;
    // The encoder is sound: a small black PNG is a fine avatar.
    let (s, b) = upload(&ada, black_png(64), "image/png").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A 50 KB file that would decode to 8,192 x 8,192: refused before it is decoded, however many at once.
    let bomb = black_png(8192);
    assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(server.user(&format!("bomber{i}")).await);
    }
    let answers = futures_util::future::join_all(users.iter().map(|u| upload(u, bomb.clone(), "image/png"))).await;
    for (s, b) in answers {
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("image_too_large")), "{b}");
    }
    // Twenty uploads an hour each, whichever session or token they come from.
    let (_, made) = ada.post("/api/v1/tokens", json!({"name": "pics", "scopes": ["rooms:write"]})).await;
    let mut with_token = ada.clone();
    with_token.token = made["token"].as_str().unwrap().to_string();
    for i in 1..20 {
        let who = if i % 2 == 0 { &ada } else { &with_token };
        let (s, b) = upload(who, black_png(16), "image/png").await;
        assert_eq!(s, StatusCode::OK, "upload {i}: {b}");
    }
    let (s, b) = upload(&with_token, black_png(16), "image/png").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    let (s, _) = upload(&ada, black_png(16), "image/png").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "the session shares the account's budget");
}
