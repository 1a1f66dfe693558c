/*
 * mezz-igvm: build, dump, measure and verify IGVM files (docs/mezz-igvm.md).
 * Exit status: 0 ok, 2 bad input (arguments, manifest, IGVM file), 1 other failures (I/O).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "igvm/igvm.h"
#include "igvm/igvm_build.h"
#include "igvm/igvm_measure.h"
#include "tools/mezz-igvm/atomic_file.h"
#include "tools/mezz-igvm/dump.h"
#include "tools/mezz-igvm/manifest.h"

#define EXIT_BAD_INPUT 2
#define EXIT_IO 1
#define MAX_MANIFEST (256u << 20)
#define MAX_IGVM ((size_t)IGVM_BUILD_MAX_FILE)

static const char *prog = "mezz-igvm";

static const char usage_main[] =
	"usage: mezz-igvm COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  build MANIFEST -o FILE [--set NAME=PATH]...\n"
	"                             build an IGVM file from a JSON manifest\n"
	"  dump FILE [--json [--data-dir DIR]] [-o OUT]\n"
	"                             list the headers; --json prints a manifest that builds\n"
	"                             the same file again\n"
	"  measure FILE [--platform snp|tdx|vbs] [--convention crate|kvm] [--json]\n"
	"                             launch measurements (SNP launch digest, TDX MRTD, VBS)\n"
	"  verify FILE                validate; exit 0 if the file loads, 2 with the reason\n"
	"  help [COMMAND]             this text, or a command's help\n"
	"\n"
	"Exit status: 0 success, 2 bad input (arguments, manifest, IGVM file), 1 other errors.\n"
	"Details: docs/mezz-igvm.md\n";

static const char usage_build[] =
	"usage: mezz-igvm build MANIFEST -o FILE [--set NAME=PATH]...\n"
	"\n"
	"Reads the JSON manifest (format: docs/mezz-igvm.md, MANIFEST FORMAT), builds the IGVM\n"
	"file with the reference writer's layout, validates it and writes it atomically to FILE\n"
	"(temporary file in the same directory, fsync, rename; nothing is left on failure).\n"
	"Payload files (\"data_file\") are relative to the manifest's directory.\n"
	"--set NAME=PATH replaces a file of the manifest's \"paravisor\" section (NAME: shim,\n"
	"tdx_reset, kernel, initrd); PATH is relative to the current directory.\n";

static const char usage_dump[] =
	"usage: mezz-igvm dump FILE [--json [--data-dir DIR]] [-o OUT]\n"
	"\n"
	"Prints the headers of a valid IGVM file. With --json prints a manifest instead; for\n"
	"files with the reference writer's layout `mezz-igvm build` of that manifest gives a\n"
	"byte-identical file (a warning on stderr says when it would not). -o writes the\n"
	"output atomically to OUT instead of stdout.\n"
	"--data-dir DIR (with --json) writes each payload to DIR/<sha256>.bin (created if\n"
	"needed) and names it with \"data_file\", relative to OUT's directory (to the current\n"
	"directory without -o), instead of inline hex; on failure the files written are removed.\n";

static const char usage_measure[] =
	"usage: mezz-igvm measure FILE [--platform snp|tdx|vbs] [--convention crate|kvm] [--json]\n"
	"\n"
	"Computes the launch measurement of each measurable platform of the file (or only the\n"
	"one named): SEV-SNP launch digest (SHA-384), TDX MRTD (SHA-384), VBS boot digest\n"
	"(SHA-256). --convention kvm measures SNP pages without data as ZERO pages like\n"
	"QEMU/KVM; crate (default) as normal zero pages like the reference crate.\n"
	"Output: one line per platform, PLATFORM<TAB>mask=0xM<TAB>HEXDIGEST; --json: an array.\n";

static const char usage_verify[] =
	"usage: mezz-igvm verify FILE\n"
	"\n"
	"Parses and validates FILE. Exit 0 and a summary if it loads; otherwise exit 2 and\n"
	"the reason (header index, header type, field, why).\n";

static int bad_args(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad_args(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return EXIT_BAD_INPUT;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Exit status for a failed read of an input named by the user. */
static int read_fail(const char *what, const char *path, int rc)
{
	fprintf(stderr, "%s: cannot read %s %s: %s\n", prog, what, path, strerror(-rc));
	return (rc == -ENOENT || rc == -EISDIR || rc == -EFBIG || rc == -ENOTDIR)
		       ? EXIT_BAD_INPUT
		       : EXIT_IO;
}

/* Read and validate an IGVM file; prints the reason and returns an exit status on failure. */
static int load_igvm(const char *path, uint8_t **buf, struct igvm_file **f)
{
	struct igvm_error err;
	size_t len;
	char line[320];
	int rc;

	*f = NULL;
	rc = atomic_file_read(path, MAX_IGVM, buf, &len);
	if (rc)
		return read_fail("IGVM file", path, rc);
	memset(&err, 0, sizeof(err));
	rc = igvm_parse(*buf, len, NULL, f, &err);
	if (rc != IGVM_OK) {
		igvm_error_format(&err, line, sizeof(line));
		fprintf(stderr, "%s: %s: invalid IGVM file: %s\n", prog, path, line);
		free(*buf);
		*buf = NULL;
		return EXIT_BAD_INPUT;
	}
	return 0;
}

static int write_out(const char *path, const void *buf, size_t len)
{
	char msg[512];
	int rc;

	if (!path) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
			fprintf(stderr, "%s: write to stdout failed: %s\n", prog, strerror(errno));
			return EXIT_IO;
		}
		return 0;
	}
	rc = atomic_file_write(path, buf, len, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, msg);
		return EXIT_IO;
	}
	return 0;
}

/* Directory of the manifest, for relative payload paths. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

#define MAX_SETS 16

/* A --set PATH as the resolver takes it: relative paths are relative to the current
 * directory here, not to the manifest's. */
static char *abs_path(const char *path)
{
	char *cwd, *full = NULL;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (asprintf(&full, "%s/%s", cwd, path) < 0)
		full = NULL;
	free(cwd);
	return full;
}

static int cmd_build(int argc, char **argv)
{
	const char *manifest = NULL, *outp = NULL;
	struct manifest_override sets[MAX_SETS];
	char *set_bufs[MAX_SETS];
	size_t n_sets = 0;
	struct manifest_io io = { .read_file = manifest_read_relative };
	struct igvm_builder *b = NULL;
	struct igvm_error err;
	uint8_t *json = NULL, *img = NULL;
	size_t json_len, img_len;
	char msg[512];
	char *dir;
	int rc, status;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_build, stdout);
			return 0;
		} else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
			if (++i >= argc)
				return bad_args(usage_build, "%s needs a file name", argv[i - 1]);
			outp = argv[i];
		} else if (strcmp(argv[i], "--set") == 0) {
			const char *eq;

			if (++i >= argc)
				return bad_args(usage_build, "%s", "--set needs NAME=PATH");
			eq = strchr(argv[i], '=');
			if (!eq || eq == argv[i] || !eq[1])
				return bad_args(usage_build, "--set %s: not NAME=PATH", argv[i]);
			if (n_sets == MAX_SETS)
				return bad_args(usage_build, "more than %d --set options", MAX_SETS);
			sets[n_sets].name = argv[i];
			sets[n_sets].path = eq + 1;
			set_bufs[n_sets] = NULL;
			n_sets++;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return bad_args(usage_build, "unknown option %s", argv[i]);
		} else if (!manifest) {
			manifest = argv[i];
		} else {
			return bad_args(usage_build, "unexpected argument %s", argv[i]);
		}
	}
	if (!manifest)
		return bad_args(usage_build, "%s", "missing MANIFEST");
	if (!outp)
		return bad_args(usage_build, "%s", "missing -o FILE");
	rc = atomic_file_read(manifest, MAX_MANIFEST, &json, &json_len);
	if (rc)
		return read_fail("manifest", manifest, rc);
	dir = dir_of(manifest);
	if (!dir) {
		free(json);
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_IO;
	}
	io.ctx = dir;
	/* NAME=PATH: split in copies (argv stays as it was) and make PATH absolute. */
	for (size_t i = 0; i < n_sets; i++) {
		size_t nl = (size_t)(sets[i].path - 1 - sets[i].name);
		char *path = abs_path(sets[i].path);

		set_bufs[i] = path ? malloc(nl + 1 + strlen(path) + 1) : NULL;
		if (!set_bufs[i]) {
			free(path);
			for (size_t k = 0; k < i; k++)
				free(set_bufs[k]);
			free(json);
			free(dir);
			fprintf(stderr, "%s: out of memory\n", prog);
			return EXIT_IO;
		}
		memcpy(set_bufs[i], sets[i].name, nl);
		set_bufs[i][nl] = '\0';
		strcpy(set_bufs[i] + nl + 1, path);
		free(path);
		sets[i].name = set_bufs[i];
		sets[i].path = set_bufs[i] + nl + 1;
	}
	rc = manifest_build_ex((const char *)json, json_len, &io, sets, n_sets, &b, msg,
			       sizeof(msg));
	for (size_t i = 0; i < n_sets; i++)
		free(set_bufs[i]);
	free(json);
	free(dir);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", prog, manifest, msg);
		/* Unreadable payloads are I/O failures unless simply missing. */
		return (rc == -EINVAL || rc == -ENOENT || rc == -EISDIR || rc == -EFBIG ||
			rc == -ENOTDIR)
			       ? EXIT_BAD_INPUT
			       : EXIT_IO;
	}
	memset(&err, 0, sizeof(err));
	rc = igvm_build_write(b, &img, &img_len, &err);
	igvm_build_free(b);
	if (rc) {
		igvm_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s: cannot build: %s\n", prog, manifest, msg);
		return rc == -ENOMEM ? EXIT_IO : EXIT_BAD_INPUT;
	}
	status = write_out(outp, img, img_len);
	free(img);
	return status;
}

/* Does the manifest rebuild to exactly `buf`? (for the dump --json warning) Payload files are
 * read relative to dir (NULL: the manifest has none). */
static bool rebuilds_identically(const char *json, const uint8_t *buf, size_t len,
				 const char *dir)
{
	struct manifest_io io = { .read_file = manifest_read_relative, .ctx = (void *)dir };
	struct igvm_builder *b = NULL;
	struct igvm_error err;
	uint8_t *img = NULL;
	size_t img_len = 0;
	char msg[256];
	bool same;

	if (manifest_build(json, strlen(json), dir ? &io : NULL, &b, msg, sizeof(msg)) != 0)
		return false;
	memset(&err, 0, sizeof(err));
	same = igvm_build_write(b, &img, &img_len, &err) == 0 && img_len == len &&
	       memcmp(img, buf, len) == 0;
	igvm_build_free(b);
	free(img);
	return same;
}

/* dump --json: the manifest (payloads inline or in data_dir), written atomically. */
static int dump_manifest(const char *file, const struct igvm_file *f, const char *outp,
			 const char *data_dir)
{
	struct json_object *root = NULL;
	struct dump_data_dir *dd = NULL;
	struct dump_sink sink = { .put = dump_data_dir_put };
	char *mdir = outp ? dir_of(outp) : strdup(".");
	char *text = NULL;
	char msg[512];
	int rc, status = 0;

	if (!mdir) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_IO;
	}
	if (data_dir) {
		rc = dump_data_dir_open(data_dir, mdir, &dd, msg, sizeof(msg));
		if (rc) {
			fprintf(stderr, "%s: %s\n", prog, msg);
			free(mdir);
			return EXIT_IO;
		}
		sink.ctx = dd;
	}
	rc = dump_json(f, dd ? &sink : NULL, &root, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", prog, file, msg);
		status = rc == -EINVAL ? EXIT_BAD_INPUT : EXIT_IO;
		goto out;
	}
	{
		const char *s = json_object_to_json_string_ext(
			root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				      JSON_C_TO_STRING_NOSLASHESCAPE);
		size_t n = s ? strlen(s) : 0;

		text = s ? malloc(n + 2) : NULL;
		if (!text) {
			fprintf(stderr, "%s: out of memory\n", prog);
			status = EXIT_IO;
			goto out;
		}
		memcpy(text, s, n);
		text[n] = '\n';
		text[n + 1] = '\0';
		/* The JSON tree can be large; drop it before the rebuild check. */
		json_object_put(root);
		root = NULL;
		if (!rebuilds_identically(text, f->bytes, f->len, dd ? mdir : NULL))
			fprintf(stderr,
				"%s: warning: %s does not use the reference writer's layout; "
				"building this manifest gives an equivalent, not byte-identical, "
				"file\n",
				prog, file);
		if (dd && dump_data_dir_sync(dd, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "%s: %s\n", prog, msg);
			status = EXIT_IO;
			goto out;
		}
		status = write_out(outp, text, n + 1);
	}
out:
	/* A failed dump leaves no payload files behind (like the atomic manifest write). */
	dump_data_dir_close(dd, status != 0);
	json_object_put(root);
	free(text);
	free(mdir);
	return status;
}

static int cmd_dump(int argc, char **argv)
{
	const char *file = NULL, *outp = NULL, *data_dir = NULL;
	bool json = false;
	struct igvm_file *f = NULL;
	uint8_t *buf = NULL;
	int status;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_dump, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--data-dir") == 0) {
			if (++i >= argc || !argv[i][0])
				return bad_args(usage_dump, "%s", "--data-dir needs a directory");
			data_dir = argv[i];
		} else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
			if (++i >= argc)
				return bad_args(usage_dump, "%s needs a file name", argv[i - 1]);
			outp = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return bad_args(usage_dump, "unknown option %s", argv[i]);
		} else if (!file) {
			file = argv[i];
		} else {
			return bad_args(usage_dump, "unexpected argument %s", argv[i]);
		}
	}
	if (!file)
		return bad_args(usage_dump, "%s", "missing FILE");
	if (data_dir && !json)
		return bad_args(usage_dump, "%s", "--data-dir needs --json");
	status = load_igvm(file, &buf, &f);
	if (status)
		return status;
	if (!json) {
		char *text = NULL;
		size_t text_len = 0;
		FILE *mem = open_memstream(&text, &text_len);

		if (!mem || dump_text(mem, f) != 0 || fclose(mem) != 0) {
			fprintf(stderr, "%s: out of memory\n", prog);
			status = EXIT_IO;
		} else {
			status = write_out(outp, text, text_len);
		}
		free(text);
	} else {
		status = dump_manifest(file, f, outp, data_dir);
	}
	igvm_free(f);
	free(buf);
	return status;
}

static int cmd_measure(int argc, char **argv)
{
	const char *file = NULL;
	int want = -1; /* platform type or -1 = all measurable */
	enum igvm_snp_convention conv = IGVM_SNP_CONV_CRATE;
	bool json = false;
	struct igvm_file *f = NULL;
	struct json_object *arr = NULL;
	uint8_t *buf = NULL;
	int status, done = 0;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_measure, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--platform") == 0) {
			if (++i >= argc)
				return bad_args(usage_measure, "%s", "--platform needs a value");
			if (strcmp(argv[i], "snp") == 0)
				want = IGVM_PLATFORM_SEV_SNP;
			else if (strcmp(argv[i], "tdx") == 0)
				want = IGVM_PLATFORM_TDX;
			else if (strcmp(argv[i], "vbs") == 0)
				want = IGVM_PLATFORM_VSM_ISOLATION;
			else
				return bad_args(usage_measure, "unknown platform %s", argv[i]);
		} else if (strcmp(argv[i], "--convention") == 0) {
			if (++i >= argc)
				return bad_args(usage_measure, "%s", "--convention needs a value");
			if (strcmp(argv[i], "crate") == 0)
				conv = IGVM_SNP_CONV_CRATE;
			else if (strcmp(argv[i], "kvm") == 0)
				conv = IGVM_SNP_CONV_NATIVE_ZERO;
			else
				return bad_args(usage_measure, "unknown convention %s", argv[i]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return bad_args(usage_measure, "unknown option %s", argv[i]);
		} else if (!file) {
			file = argv[i];
		} else {
			return bad_args(usage_measure, "unexpected argument %s", argv[i]);
		}
	}
	if (!file)
		return bad_args(usage_measure, "%s", "missing FILE");
	status = load_igvm(file, &buf, &f);
	if (status)
		return status;
	if (json && !(arr = json_object_new_array())) {
		status = EXIT_IO;
		goto out;
	}
	for (size_t i = 0; i < f->n_platforms; i++) {
		const struct igvm_platform_info *p = &f->platforms[i];
		uint8_t d[IGVM_MEASURE_DIGEST_MAX];
		char hex[2 * IGVM_MEASURE_DIGEST_MAX + 1];
		struct igvm_error err;
		size_t dlen = 0;
		int rc;

		if (want >= 0 ? (int)p->type != want
			      : (p->type != IGVM_PLATFORM_SEV_SNP && p->type != IGVM_PLATFORM_TDX &&
				 p->type != IGVM_PLATFORM_VSM_ISOLATION))
			continue;
		memset(&err, 0, sizeof(err));
		rc = igvm_measure(f, p->type, conv, d, &dlen, &err);
		if (rc != IGVM_OK || dlen > IGVM_MEASURE_DIGEST_MAX) {
			char line[320];

			igvm_error_format(&err, line, sizeof(line));
			fprintf(stderr, "%s: %s: cannot measure %s: %s\n", prog, file,
				igvm_platform_name(p->type), line);
			status = EXIT_BAD_INPUT;
			goto out;
		}
		for (size_t k = 0; k < dlen; k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		hex[2 * dlen] = '\0';
		if (json) {
			struct json_object *o = json_object_new_object();
			char mask[16];

			snprintf(mask, sizeof(mask), "%#x", p->mask);
			if (!o || json_object_object_add(o, "platform",
							  json_object_new_string(
								  igvm_platform_name(p->type))) ||
			    json_object_object_add(o, "compatibility_mask",
						   json_object_new_string(mask)) ||
			    json_object_object_add(
				    o, "convention",
				    json_object_new_string(conv == IGVM_SNP_CONV_CRATE ? "crate"
										      : "kvm")) ||
			    json_object_object_add(o, "digest", json_object_new_string(hex)) ||
			    json_object_array_add(arr, o)) {
				json_object_put(o);
				status = EXIT_IO;
				goto out;
			}
		} else {
			printf("%s\tmask=%#x\t%s\n", igvm_platform_name(p->type), p->mask, hex);
		}
		done++;
	}
	if (!done) {
		fprintf(stderr, "%s: %s: %s\n", prog, file,
			want >= 0 ? "the file has no such platform"
				  : "the file has no measurable platform (SEV_SNP, TDX, VSM_ISOLATION)");
		status = EXIT_BAD_INPUT;
		goto out;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
									JSON_C_TO_STRING_SPACED));
	if (fflush(stdout) != 0)
		status = EXIT_IO;
out:
	json_object_put(arr);
	igvm_free(f);
	free(buf);
	return status;
}

static int cmd_verify(int argc, char **argv)
{
	const char *file = NULL;
	struct igvm_file *f = NULL;
	uint8_t *buf = NULL;
	int status;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_verify, stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return bad_args(usage_verify, "unknown option %s", argv[i]);
		} else if (!file) {
			file = argv[i];
		} else {
			return bad_args(usage_verify, "unexpected argument %s", argv[i]);
		}
	}
	if (!file)
		return bad_args(usage_verify, "%s", "missing FILE");
	status = load_igvm(file, &buf, &f);
	if (status)
		return status;
	printf("%s: ok: format_version %u, %s, %zu headers, platforms:", file, f->format_version,
	       f->arch == IGVM_ARCH_X64 ? "x64" : "aarch64", igvm_header_count(f));
	for (size_t i = 0; i < f->n_platforms; i++)
		printf(" %s(mask %#x)", igvm_platform_name(f->platforms[i].type),
		       f->platforms[i].mask);
	printf("\n");
	igvm_free(f);
	free(buf);
	return fflush(stdout) ? EXIT_IO : 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "build", cmd_build, usage_build },
	{ "dump", cmd_dump, usage_dump },
	{ "measure", cmd_measure, usage_measure },
	{ "verify", cmd_verify, usage_verify },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_BAD_INPUT;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		if (argc > 2) {
			for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
				if (strcmp(argv[2], commands[i].name) == 0) {
					fputs(commands[i].usage, stdout);
					return 0;
				}
			}
			return bad_args(usage_main, "unknown command %s", argv[2]);
		}
		fputs(usage_main, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	return bad_args(usage_main, "unknown command %s", argv[1]);
}
