/* Unit tests for mime_for_path (src/mime.h). */
#include "harness.h"
#include "mime.h"

#include <ctype.h>

#define OCTET "application/octet-stream"

/* mime_for_path on a guarded copy (no NUL after the name: it must respect n). */
static const char *mime(const char *name)
{
    size_t n = strlen(name);
    return mime_for_path(guarded_copy(name, n), n);
}

struct expect {
    const char *ext, *type;
};

/* README: html, css, js, mjs, json, txt, svg, png, jpg, gif, webp, ico, woff2, wasm, mp4, webm,
 * mp3, pdf ("and more"). */
static const struct expect readme_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"pdf", "application/pdf"},
};

static void test_readme_types(void)
{
    char name[64];
    for (size_t i = 0; i < sizeof readme_types / sizeof readme_types[0]; i++) {
        const struct expect *e = &readme_types[i];
        snprintf(name, sizeof name, "/static/file.%s", e->ext);
        CHECK_EQ_STR(mime(name), e->type);
        snprintf(name, sizeof name, "file.%s", e->ext);
        CHECK_EQ_STR(mime(name), e->type);
        /* upper case and mixed case */
        snprintf(name, sizeof name, "/A/FILE.%s", e->ext);
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        CHECK_EQ_STR(mime(name), e->type);
        snprintf(name, sizeof name, "/x.%c%s", toupper((unsigned char)e->ext[0]), e->ext + 1);
        CHECK_EQ_STR(mime(name), e->type);
    }
}

static void test_more_types(void)
{
    CHECK_EQ_STR(mime("/a.htm"), "text/html; charset=utf-8");
    CHECK_EQ_STR(mime("/a.jpeg"), "image/jpeg");
    CHECK_EQ_STR(mime("/a.JPEG"), "image/jpeg");
    CHECK_EQ_STR(mime("/a.woff"), "font/woff");
    CHECK_EQ_STR(mime("/a.avif"), "image/avif");
    CHECK_EQ_STR(mime("/a.xml"), "application/xml");
    CHECK_EQ_STR(mime("/a.csv"), "text/csv; charset=utf-8");
    CHECK_EQ_STR(mime("/a.md"), "text/markdown; charset=utf-8");
    CHECK_EQ_STR(mime("/a.map"), "application/json");
    CHECK_EQ_STR(mime("/site.webmanifest"), "application/manifest+json");
}

static void test_text_types_have_charset(void)
{
    static const char *names[] = {"a.html", "a.htm", "a.css",  "a.js",  "a.mjs",
                                  "a.txt",  "a.csv", "a.md",   "a.svg", "a.json",
                                  "a.png",  "a.xml", "a.wasm", "a.pdf", "a.mp4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *t = mime(names[i]);
        CHECK(t != NULL);
        if (!t)
            continue;
        const char *cs = "; charset=utf-8";
        size_t tl = strlen(t), cl = strlen(cs);
        int is_text = strncmp(t, "text/", 5) == 0;
        int has_cs = tl > cl && strcmp(t + tl - cl, cs) == 0;
        if (is_text)
            CHECK(has_cs);
        if (strstr(t, "javascript"))
            CHECK(has_cs);
    }
}

static void test_several_dots(void)
{
    CHECK_EQ_STR(mime("/a.b.c.css"), "text/css; charset=utf-8");
    CHECK_EQ_STR(mime("/app.min.js"), "text/javascript; charset=utf-8");
    CHECK_EQ_STR(mime("/archive.tar.gz"), "application/gzip");
    CHECK_EQ_STR(mime("/x.html.bak"), OCTET);
    CHECK_EQ_STR(mime("/x.png.txt"), "text/plain; charset=utf-8");
    CHECK_EQ_STR(mime("/..png"), "image/png");
}

static void test_no_extension(void)
{
    CHECK_EQ_STR(mime("/README"), OCTET);
    CHECK_EQ_STR(mime("README"), OCTET);
    CHECK_EQ_STR(mime("/"), OCTET);
    CHECK_EQ_STR(mime(""), OCTET);
    CHECK_EQ_STR(mime_for_path(guarded_copy("", 0), 0), OCTET);
    CHECK_EQ_STR(mime("/a/b/"), OCTET);
    /* an extension of a directory does not count for the file */
    CHECK_EQ_STR(mime("/a.b/c"), OCTET);
    CHECK_EQ_STR(mime("/x.html/c"), OCTET);
    CHECK_EQ_STR(mime("/x.css/"), OCTET);
    /* trailing dot */
    CHECK_EQ_STR(mime("/a."), OCTET);
    CHECK_EQ_STR(mime("/a.."), OCTET);
    CHECK_EQ_STR(mime("."), OCTET);
    CHECK_EQ_STR(mime("/."), OCTET);
}

static void test_dotfiles(void)
{
    /* ".html" alone: the whole name is the extension (it's a hidden file named "html"?) —
     * either way it must be a known type or octet-stream, never a crash. */
    const char *t = mime("/.html");
    CHECK(strcmp(t, "text/html; charset=utf-8") == 0 || strcmp(t, OCTET) == 0);
    CHECK_EQ_STR(mime("/.hidden"), OCTET);
    CHECK_EQ_STR(mime("/.htaccess"), OCTET);
}

static void test_unknown(void)
{
    CHECK_EQ_STR(mime("/a.exe"), OCTET);
    CHECK_EQ_STR(mime("/a.php"), OCTET);
    CHECK_EQ_STR(mime("/a.ht"), OCTET);
    CHECK_EQ_STR(mime("/a.htmll"), OCTET);
    CHECK_EQ_STR(mime("/a.h"), OCTET);
    CHECK_EQ_STR(mime("/a.j"), OCTET);
    CHECK_EQ_STR(mime("/a. js"), OCTET);
    CHECK_EQ_STR(mime("/a.js "), OCTET);
    CHECK_EQ_STR(mime("/a.\xc3\xa9"), OCTET);
    /* long extensions (longer than any known) */
    CHECK_EQ_STR(mime("/a.abcdefghijklmnop"), OCTET);
    CHECK_EQ_STR(mime("/a.webmanifestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), OCTET);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[0] = '/';
    big[1] = '.';
    big[sizeof big - 1] = 0;
    CHECK_EQ_STR(mime(big), OCTET);
}

static void test_respects_length(void)
{
    /* only name[0..n) counts */
    const char *s = "/a.css.png";
    CHECK_EQ_STR(mime_for_path(guarded_copy(s, 6), 6), "text/css; charset=utf-8");
    CHECK_EQ_STR(mime_for_path(guarded_copy(s, 10), 10), "image/png");
    CHECK_EQ_STR(mime_for_path(guarded_copy(s, 5), 5), OCTET); /* "/a.cs" */
}

int main(void)
{
    HARNESS_RUN(test_readme_types);
    HARNESS_RUN(test_more_types);
    HARNESS_RUN(test_text_types_have_charset);
    HARNESS_RUN(test_several_dots);
    HARNESS_RUN(test_no_extension);
    HARNESS_RUN(test_dotfiles);
    HARNESS_RUN(test_unknown);
    HARNESS_RUN(test_respects_length);
    return HARNESS_DONE();
}
