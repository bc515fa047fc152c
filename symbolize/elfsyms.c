#include "symbolize/elfsyms.h"

#include "formats/buf.h"
#include "formats/htab.h"

#include <elfutils/libdwelf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct elf_sym {
    uint64_t addr, size;
    size_t name; /* offset into names */
};

struct elf_seg {
    uint64_t offset, vaddr, filesz;
};

struct elfsyms {
    struct elf_sym *syms;
    size_t nsyms;
    struct elf_seg *segs;
    size_t nsegs;
    char *names; /* all symbol names, NUL-separated */
    size_t names_len;
    char build_id[2 * 64 + 1];
    bool too_large; /* the symbol table was over the bounds: none read */
};

static int cmp_sym(const void *a, const void *b, void *names_arg)
{
    const struct elf_sym *x = a, *y = b;
    const char *names = names_arg;

    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* among aliases prefer the sized, then the global-looking (no leading _) */
    if ((x->size == 0) != (y->size == 0))
        return x->size ? -1 : 1;
    return (names[x->name] == '_') - (names[y->name] == '_');
}

/* The file is someone else's: a symbol table is read only within these
 * bounds, else the binary gets no symbols (elfsyms_too_large). Names are
 * interned, so a million symbols naming one string cost one copy. */
#define MAX_FUNC_SYMBOLS  ((size_t)2 << 20)   /* libxul: ~0.3 M */
#define MAX_NAME_LEN      4096                /* longer names are cut here */
#define MAX_NAME_POOL     ((size_t)64 << 20)  /* distinct names' bytes */
#define MAX_SCANNED_BYTES ((size_t)256 << 20) /* name bytes looked at in all */

/* Symbol i if it is a defined function: its name (not NUL-terminated) and
 * length, found within the string table's bytes only. */
static bool func_sym(Elf_Data *data, const Elf_Data *strs, size_t i, GElf_Sym *sym,
                     const char **name, size_t *len)
{
    int type;
    const char *s;
    size_t room;

    if (!gelf_getsym(data, (int)i, sym))
        return false;
    type = GELF_ST_TYPE(sym->st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || !sym->st_value || sym->st_shndx == SHN_UNDEF)
        return false;
    if (sym->st_name >= strs->d_size)
        return false;
    s = (const char *)strs->d_buf + sym->st_name;
    room = strs->d_size - sym->st_name;
    *len = strnlen(s, room < MAX_NAME_LEN ? room : MAX_NAME_LEN);
    if (!*len || (*len == room && *len < MAX_NAME_LEN))
        return false; /* empty, or not terminated inside the table */
    *name = s;
    return true;
}

/* Reads the function symbols of one symbol table section. Returns 0,
 * -EFBIG when the table is over the bounds above, or -ENOMEM. */
static int read_symtab(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, struct elfsyms *es)
{
    Elf_Data *data = elf_getdata(scn, NULL), *strs;
    Elf_Scn *strscn = elf_getscn(elf, sh->sh_link);
    size_t n, scanned = 0, cap = 0, symsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
    struct buf pool = {0};
    struct htab interned;
    int err = 0;

    if (!data || !symsize || !strscn || !(strs = elf_getdata(strscn, NULL)) || !strs->d_buf)
        return 0;
    /* what the section holds, not what its header claims: a crafted
     * sh_size or sh_entsize must not size an allocation */
    n = data->d_size / symsize;
    htab_init(&interned);
    for (size_t i = 0; i < n && !err; i++) {
        GElf_Sym sym;
        const char *name;
        size_t len;
        uint64_t off, hash;
        bool found;

        if (!func_sym(data, strs, i, &sym, &name, &len))
            continue;
        scanned += len;
        if (es->nsyms == MAX_FUNC_SYMBOLS || scanned > MAX_SCANNED_BYTES) {
            err = -EFBIG;
            break;
        }
        /* keyed by the name's hash, so the table holds no copy of it; a
         * collision of different names only costs a second copy */
        hash = htab_hash(name, len);
        off = pool.len;
        if ((err = htab_get_or_put(&interned, &hash, sizeof(hash), &off, &found, NULL)))
            break;
        if (found && (off + len >= pool.len || memcmp(pool.d + off, name, len) != 0 ||
                      pool.d[off + len] != '\0')) {
            found = false;
            off = pool.len;
        }
        if (!found) {
            if (pool.len + len + 1 > MAX_NAME_POOL) {
                err = -EFBIG;
                break;
            }
            if ((err = buf_put(&pool, name, len)) || (err = buf_put(&pool, "", 1)))
                break;
        }
        if (ARRAY_RESERVE_ONE(es->syms, es->nsyms, cap)) {
            err = -ENOMEM;
            break;
        }
        es->syms[es->nsyms++] = (struct elf_sym){sym.st_value, sym.st_size, (size_t)off};
    }
    htab_free(&interned);
    if (err) {
        free(pool.d);
        free(es->syms);
        es->syms = NULL;
        es->nsyms = 0;
        return err;
    }
    es->names = pool.d;
    es->names_len = pool.len;
    return 0;
}

static void hex_build_id(const void *bid, ssize_t len, char *hex)
{
    for (ssize_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)bid)[i]);
}

/* The section named name, with its header; NULL when there is none. */
static Elf_Scn *section_named(Elf *elf, size_t shstrndx, const char *name, GElf_Shdr *sh)
{
    Elf_Scn *scn = NULL;

    while ((scn = elf_nextscn(elf, scn))) {
        const char *n;

        if (gelf_getshdr(scn, sh) && (n = elf_strptr(elf, shstrndx, sh->sh_name)) &&
            !strcmp(n, name))
            return scn;
    }
    return NULL;
}

/* PLT entries named after the functions they jump to, "name@plt", as perf
 * and objdump show them: .rela.plt's entries follow the PLT's order
 * (.plt.sec's, with IBT; else .plt's after its first, resolver entry). */
static int add_plt_symbols(Elf *elf, struct elfsyms *es)
{
    GElf_Shdr rsh, psh, dsh;
    Elf_Scn *rela, *dyn;
    Elf_Data *rdata, *ddata;
    size_t shstrndx, cap = es->nsyms, names_cap = es->names_len, first = 0, n;

    if (elf_getshdrstrndx(elf, &shstrndx) ||
        !(rela = section_named(elf, shstrndx, ".rela.plt", &rsh)) || rsh.sh_type != SHT_RELA ||
        !(dyn = elf_getscn(elf, rsh.sh_link)) || !gelf_getshdr(dyn, &dsh) ||
        !(rdata = elf_getdata(rela, NULL)) || !(ddata = elf_getdata(dyn, NULL)))
        return 0;
    if (!section_named(elf, shstrndx, ".plt.sec", &psh)) {
        if (!section_named(elf, shstrndx, ".plt", &psh))
            return 0;
        first = 1;
    }
    n = rdata->d_size / gelf_fsize(elf, ELF_T_RELA, 1, EV_CURRENT);
    for (size_t i = 0; i < n && es->nsyms < MAX_FUNC_SYMBOLS; i++) {
        uint64_t addr = psh.sh_addr + (first + i) * 16;
        GElf_Rela r;
        GElf_Sym sym;
        const char *name;
        size_t len;

        if (addr + 16 > psh.sh_addr + psh.sh_size)
            break;
        if (!gelf_getrela(rdata, (int)i, &r) ||
            !gelf_getsym(ddata, (int)GELF_R_SYM(r.r_info), &sym) ||
            !(name = elf_strptr(elf, dsh.sh_link, sym.st_name)) || !*name)
            continue;
        len = strnlen(name, MAX_NAME_LEN);
        /* grown geometrically: node has thousands of PLT entries */
        if (es->names_len + len + 5 > MAX_NAME_POOL)
            return 0; /* the PLT's names are a nicety: those there are stay */
        if (array_reserve((void **)&es->names, &names_cap, es->names_len + len + 5, 1))
            return -ENOMEM;
        memcpy(es->names + es->names_len, name, len);
        memcpy(es->names + es->names_len + len, "@plt", 5);
        if (array_reserve((void **)&es->syms, &cap, es->nsyms + 1, sizeof(*es->syms)))
            return -ENOMEM;
        es->syms[es->nsyms++] = (struct elf_sym){addr, 16, es->names_len};
        es->names_len += len + 5;
    }
    return 0;
}

static int load_elf(Elf *elf, struct elfsyms *es)
{
    Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
    GElf_Shdr sh_sym, sh_dyn, sh;
    const void *bid;
    ssize_t bid_len;
    size_t nph;
    int err;

    if (elf_kind(elf) != ELF_K_ELF)
        return -ENOEXEC;
    if (elf_getphdrnum(elf, &nph))
        return -ENOEXEC;
    es->segs = calloc(nph ? nph : 1, sizeof(*es->segs));
    if (!es->segs)
        return -ENOMEM;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;

        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
            es->segs[es->nsegs++] = (struct elf_seg){ph.p_offset, ph.p_vaddr, ph.p_filesz};
    }
    while ((scn = elf_nextscn(elf, scn))) {
        if (!gelf_getshdr(scn, &sh))
            continue;
        if (sh.sh_type == SHT_SYMTAB) {
            symtab = scn;
            sh_sym = sh;
        } else if (sh.sh_type == SHT_DYNSYM) {
            dynsym = scn;
            sh_dyn = sh;
        }
    }
    /* .symtab is a superset of .dynsym when present; stripped files keep
     * only .dynsym. */
    if (symtab)
        err = read_symtab(elf, symtab, &sh_sym, es);
    else if (dynsym)
        err = read_symtab(elf, dynsym, &sh_dyn, es);
    else
        err = 0;
    if (err == -EFBIG) {
        es->too_large = true; /* located, build ID known, but unnamed */
        err = 0;
    }
    if (!err && !es->too_large)
        err = add_plt_symbols(elf, es);
    if (err)
        return err;
    /* drop aliases: keep the first (preferred) symbol at each address */
    if (es->nsyms) {
        qsort_r(es->syms, es->nsyms, sizeof(*es->syms), cmp_sym, es->names);
        size_t w = 1;

        for (size_t r = 1; r < es->nsyms; r++) {
            if (es->syms[r].addr != es->syms[w - 1].addr)
                es->syms[w++] = es->syms[r];
        }
        es->nsyms = w;
    }
    bid_len = dwelf_elf_gnu_build_id(elf, &bid);
    if (bid_len > 0 && bid_len <= 64) {
        hex_build_id(bid, bid_len, es->build_id);
    }
    return 0;
}

static int load(Elf *elf, struct elfsyms **out)
{
    struct elfsyms *es;
    int err;

    if (!elf)
        return -ENOEXEC;
    es = calloc(1, sizeof(*es));
    if (!es) {
        elf_end(elf);
        return -ENOMEM;
    }
    err = load_elf(elf, es);
    elf_end(elf);
    if (err) {
        elfsyms_free(es);
        return err;
    }
    *out = es;
    return 0;
}

int elfsyms_build_id_fd(int fd, char hex[129])
{
    Elf *elf;
    const void *bid;
    ssize_t n;

    elf_version(EV_CURRENT);
    hex[0] = '\0';
    if (!(elf = elf_begin(fd, ELF_C_READ_MMAP, NULL)))
        return -ENOEXEC;
    n = elf_kind(elf) == ELF_K_ELF ? dwelf_elf_gnu_build_id(elf, &bid) : -1;
    if (n > 0 && n <= 64)
        hex_build_id(bid, n, hex);
    elf_end(elf);
    return n > 0 && n <= 64 ? 0 : -ENOENT;
}

int elfsyms_load_fd(int fd, struct elfsyms **out)
{
    elf_version(EV_CURRENT);
    return load(elf_begin(fd, ELF_C_READ_MMAP, NULL), out);
}

int elfsyms_load_mem(const void *image, size_t size, struct elfsyms **out)
{
    char *copy = malloc(size);
    int err;

    if (!copy)
        return -ENOMEM;
    memcpy(copy, image, size);
    elf_version(EV_CURRENT);
    err = load(elf_memory(copy, size), out);
    free(copy); /* names were copied into our own pool */
    return err;
}

void elfsyms_free(struct elfsyms *es)
{
    if (!es)
        return;
    free(es->syms);
    free(es->segs);
    free(es->names);
    free(es);
}

int elfsyms_file_to_vaddr(const struct elfsyms *es, uint64_t file_off, uint64_t *vaddr)
{
    for (size_t i = 0; i < es->nsegs; i++) {
        const struct elf_seg *s = &es->segs[i];

        if (file_off >= s->offset && file_off < s->offset + s->filesz) {
            *vaddr = file_off - s->offset + s->vaddr;
            return 0;
        }
    }
    return -ENOENT;
}

const char *elfsyms_lookup(const struct elfsyms *es, uint64_t vaddr, uint64_t *sym_start)
{
    size_t lo = 0, hi = es->nsyms;
    const struct elf_sym *s;

    while (lo < hi) { /* first symbol with addr > vaddr */
        size_t mid = lo + (hi - lo) / 2;

        if (es->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return NULL;
    s = &es->syms[lo - 1];
    /* A sized symbol must cover vaddr; an unsized one (hand-written asm)
     * is taken to run up to the next symbol. */
    if (s->size && vaddr >= s->addr + s->size)
        return NULL;
    if (sym_start)
        *sym_start = s->addr;
    return es->names + s->name;
}

const char *elfsyms_build_id(const struct elfsyms *es)
{
    return es->build_id;
}

size_t elfsyms_count(const struct elfsyms *es)
{
    return es->nsyms;
}

bool elfsyms_too_large(const struct elfsyms *es)
{
    return es->too_large;
}
