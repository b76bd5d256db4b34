//! The urgent count drawn into the tray icon: many trays hide the label next to the icon, so
//! the icon itself carries the count — a red disc in its lower right corner with the number in
//! white, `1`…`9`, then `9+`. Pure pixel work on RGBA, so it is tested without a tray.

/// 3×5 glyphs, one row per byte (the low 3 bits, leftmost pixel first).
const GLYPHS: [(char, [u8; 5]); 11] = [
    ('0', [0b111, 0b101, 0b101, 0b101, 0b111]),
    ('1', [0b010, 0b110, 0b010, 0b010, 0b111]),
    ('2', [0b111, 0b001, 0b111, 0b100, 0b111]),
    ('3', [0b111, 0b001, 0b111, 0b001, 0b111]),
    ('4', [0b101, 0b101, 0b111, 0b001, 0b001]),
    ('5', [0b111, 0b100, 0b111, 0b001, 0b111]),
    ('6', [0b111, 0b100, 0b111, 0b101, 0b111]),
    ('7', [0b111, 0b001, 0b010, 0b010, 0b010]),
    ('8', [0b111, 0b101, 0b111, 0b101, 0b111]),
    ('9', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('+', [0b000, 0b010, 0b111, 0b010, 0b000]),
];

const RED: [u8; 4] = [0xe0, 0x31, 0x31, 0xff];
const WHITE: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

/// What the badge says for `count` (`None`: no badge).
pub fn badge_text(count: usize) -> Option<String> {
    match count {
        0 => None,
        1..=9 => Some(count.to_string()),
        _ => Some("9+".to_string()),
    }
}

/// `rgba` (`width`×`height`, 4 bytes a pixel) with the badge for `text` drawn on it.
pub fn with_badge(rgba: &[u8], width: u32, height: u32, text: &str) -> Vec<u8> {
    let mut out = rgba.to_vec();
    let (w, h) = (width as i64, height as i64);
    if out.len() as i64 != w * h * 4 || w < 8 || h < 8 {
        return out; // not an image this can draw on: unchanged rather than wrong
    }
    let glyphs: Vec<[u8; 5]> = text
        .chars()
        .filter_map(|c| GLYPHS.iter().find(|(g, _)| *g == c).map(|(_, rows)| *rows))
        .collect();
    let radius = w.min(h) * 3 / 10;
    let (cx, cy) = (w - radius - 1, h - radius - 1);
    let mut put = |x: i64, y: i64, color: [u8; 4]| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let i = ((y * w + x) * 4) as usize;
            out[i..i + 4].copy_from_slice(&color);
        }
    };
    for y in cy - radius..=cy + radius {
        for x in cx - radius..=cx + radius {
            if (x - cx).pow(2) + (y - cy).pow(2) <= radius * radius {
                put(x, y, RED);
            }
        }
    }
    // The text: glyphs 3 wide with a 1-pixel gap, scaled to fill about 70% of the disc.
    let columns = (glyphs.len() as i64 * 4 - 1).max(1);
    let scale = ((radius * 2 * 7 / 10) / columns).clamp(1, (radius * 2 * 6 / 10) / 5);
    let (text_w, text_h) = (columns * scale, 5 * scale);
    let (left, top) = (cx - text_w / 2, cy - text_h / 2);
    for (n, rows) in glyphs.iter().enumerate() {
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                let x0 = left + (n as i64 * 4 + col) * scale;
                let y0 = top + row as i64 * scale;
                for dy in 0..scale {
                    for dx in 0..scale {
                        put(x0 + dx, y0 + dy, WHITE);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u32 = 64;

    fn blank() -> Vec<u8> {
        vec![0u8; (SIZE * SIZE * 4) as usize]
    }

    fn pixel(img: &[u8], x: u32, y: u32) -> [u8; 4] {
        let i = ((y * SIZE + x) * 4) as usize;
        img[i..i + 4].try_into().unwrap()
    }

    fn count(img: &[u8], color: [u8; 4]) -> usize {
        img.chunks(4).filter(|p| *p == color).count()
    }

    #[test]
    fn counts_read_as_digits_then_nine_plus() {
        assert_eq!(badge_text(0), None);
        assert_eq!(badge_text(1).as_deref(), Some("1"));
        assert_eq!(badge_text(9).as_deref(), Some("9"));
        assert_eq!(badge_text(10).as_deref(), Some("9+"));
        assert_eq!(badge_text(250).as_deref(), Some("9+"));
    }

    #[test]
    fn a_red_disc_with_white_text_in_the_lower_right_corner_only() {
        let base = blank();
        let img = with_badge(&base, SIZE, SIZE, "3");
        // The top and left thirds are the icon, untouched.
        for y in 0..SIZE {
            for x in 0..SIZE {
                if x < SIZE / 3 || y < SIZE / 3 {
                    assert_eq!(pixel(&img, x, y), [0, 0, 0, 0], "({x},{y})");
                }
            }
        }
        assert!(count(&img, RED) > 300, "a disc");
        assert!(count(&img, WHITE) > 20, "a digit");
        // The bottom-right corner pixel is outside the round disc.
        assert_eq!(pixel(&img, SIZE - 1, SIZE - 1), [0, 0, 0, 0]);
    }

    #[test]
    fn different_counts_draw_differently_and_every_count_over_nine_alike() {
        let base = blank();
        let three = with_badge(&base, SIZE, SIZE, "3");
        let eight = with_badge(&base, SIZE, SIZE, "8");
        assert_ne!(three, eight);
        assert!(
            count(&eight, WHITE) > count(&three, WHITE),
            "8 has more strokes"
        );
        let ten = with_badge(&base, SIZE, SIZE, &badge_text(10).unwrap());
        let many = with_badge(&base, SIZE, SIZE, &badge_text(99).unwrap());
        assert_eq!(ten, many);
        assert_ne!(ten, with_badge(&base, SIZE, SIZE, "9"));
    }

    #[test]
    fn an_image_of_the_wrong_size_is_left_alone() {
        let short = vec![7u8; 10];
        assert_eq!(with_badge(&short, SIZE, SIZE, "3"), short);
    }
}
