package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Languages the pages are written in.
const (
	LangEnglish = "en"
	LangChinese = "zh-Hant" // Traditional Chinese
)

// languages lists the supported languages in the order of the switch.
var languages = []string{LangEnglish, LangChinese}

// messages is the catalogue: every text of the pages, by key, in each
// language. A test checks that both languages have the same keys.
// Values with %d take the numbers the key's users pass.
var messages = map[string]map[string]string{
	LangEnglish: {
		"lang.name":   "English",
		"site.name":   "Library PIN",
		"skip":        "Skip to the form",
		"nav.setup":   "First-time set-up",
		"nav.change":  "Change PIN",
		"nav.label":   "PIN pages",
		"lang.label":  "Language",
		"footer.help": "Forgotten your PIN, or no set-up code? Ask at the library counter with your library card.",

		"index.title":  "Your library PIN",
		"index.intro":  "Your library PIN and your library card number let you log in to the library's services.",
		"index.setup":  "I have a set-up code or a one-time PIN from the library: set up my PIN",
		"index.change": "I know my PIN: change it",

		"setup.title":   "Set up your library PIN",
		"setup.intro":   "Enter your library card number, the set-up code the library gave you (or the one-time PIN from the counter, or your old PIN if you were asked to change it), then choose your PIN.",
		"setup.submit":  "Set my PIN",
		"change.title":  "Change your library PIN",
		"change.intro":  "Enter your library card number and your current PIN, then choose a new PIN.",
		"change.submit": "Change my PIN",

		"field.card":           "Library card number",
		"hint.card":            "As printed on your card, for example CU1234567 or 20231234.",
		"field.code":           "Set-up code or one-time PIN",
		"hint.code":            "For example ABCD-EFGH-JKMN-PQRS. Capitals and dashes do not matter.",
		"field.current":        "Current PIN",
		"field.new":            "New PIN",
		"field.confirm":        "New PIN again",
		"hint.confirm":         "Type the same new PIN again, to be sure it is what you meant.",
		"rules.heading":        "Your new PIN must:",
		"rules.length":         "be %d to %d characters long",
		"rules.classes":        "use at least %d of: letters (A-Z, a-z), digits (0-9), special characters such as $ # %%",
		"rules.classes1":       "contain letters, digits or symbols",
		"rules.chars":          "use only letters, digits and keyboard symbols: no spaces, no accented or Chinese characters",
		"rules.differ":         "be different from your current PIN",
		"rules.met":            "done",
		"rules.unmet":          "not yet",
		"rules.summary":        "{n} of {total} rules met",
		"rules.match":          "The two new PINs are the same.",
		"rules.nomatch":        "The two new PINs are not the same yet.",
		"errors.heading":       "Please correct the following:",
		"err.required.card":    "Enter your library card number.",
		"err.required.code":    "Enter the set-up code or one-time PIN the library gave you.",
		"err.required.current": "Enter your current PIN.",
		"err.required.new":     "Choose a new PIN.",
		"err.required.confirm": "Type the new PIN a second time.",
		"err.mismatch":         "The two new PINs are not the same. Type the same PIN in both fields.",
		"err.too_short":        "Too short: use at least %d characters.",
		"err.too_long":         "Too long: use at most %d characters.",
		"err.too_few_classes":  "Mix at least %d kinds of characters: letters, digits, symbols.",
		"err.too_few_classes1": "Use letters, digits or symbols.",
		"err.bad_char":         "Character number %d is not allowed: use only letters, digits and keyboard symbols (no spaces, no accented or Chinese characters).",
		"err.same_as_old":      "The new PIN must be different from your current PIN.",
		"err.policy":           "This PIN does not meet the rules above.",
		"err.badcode":          "The card number or the set-up code is not right. Check both and try again. After several wrong tries the card is locked for a while; if it keeps failing, ask at the library counter.",
		"err.expired":          "This set-up code has expired. Ask the library for a new one.",
		"err.notpermitted":     "This card cannot set its PIN online. Please ask at the library counter.",
		"err.badold":           "The card number or the current PIN is not right, or this card cannot change its PIN online. Check both and try again. After several wrong tries the card is locked for a while; if it keeps failing, ask at the library counter.",
		"err.csrf":             "This form had expired or came from another site, so nothing was changed. Please fill it in again.",
		"err.throttled":        "Too many attempts from this device. Nothing was changed. Please wait about %d minutes, then try again.",
		"err.unavailable":      "The PIN service is busy or unavailable, so nothing was changed. Please try again in a few minutes.",
		"err.notfound":         "There is no such page.",
		"err.method":           "This page cannot be used that way.",
		"throttled.title":      "Please wait",
		"unavailable.title":    "Please try again later",
		"notfound.title":       "Page not found",
		"done.setup.title":     "Your PIN is set",
		"done.setup":           "Your PIN is set. You can now log in to the library's services with your card number and your new PIN.",
		"done.change.title":    "Your PIN is changed",
		"done.change":          "Your PIN is changed. Use your new PIN from now on.",
		"done.back":            "Back to the PIN pages",
		"error.prefix":         "Error:",
	},
	LangChinese: {
		"lang.name":   "中文",
		"site.name":   "圖書館密碼",
		"skip":        "跳至表格",
		"nav.setup":   "首次設定",
		"nav.change":  "更改密碼",
		"nav.label":   "密碼頁面",
		"lang.label":  "語言",
		"footer.help": "忘記密碼或沒有設定碼？請帶同圖書證到圖書館服務台查詢。",

		"index.title":  "你的圖書館密碼",
		"index.intro":  "憑圖書證號碼及圖書館密碼，即可登入圖書館的各項服務。",
		"index.setup":  "我有圖書館發出的設定碼或一次性密碼：設定我的密碼",
		"index.change": "我記得我的密碼：更改密碼",

		"setup.title":   "設定圖書館密碼",
		"setup.intro":   "請輸入圖書證號碼及圖書館給你的設定碼（或服務台發出的一次性密碼；如被要求更改密碼，亦可輸入舊密碼），然後選擇你的密碼。",
		"setup.submit":  "設定密碼",
		"change.title":  "更改圖書館密碼",
		"change.intro":  "請輸入圖書證號碼及現有密碼，然後選擇新密碼。",
		"change.submit": "更改密碼",

		"field.card":           "圖書證號碼",
		"hint.card":            "與圖書證上所印的相同，例如 CU1234567 或 20231234。",
		"field.code":           "設定碼或一次性密碼",
		"hint.code":            "例如 ABCD-EFGH-JKMN-PQRS。大小寫及連字號均不影響。",
		"field.current":        "現有密碼",
		"field.new":            "新密碼",
		"field.confirm":        "再次輸入新密碼",
		"hint.confirm":         "請再輸入同一個新密碼，以確保沒有打錯。",
		"rules.heading":        "新密碼必須：",
		"rules.length":         "長度為 %d 至 %d 個字元",
		"rules.classes":        "包含以下最少 %d 類字元：英文字母（A-Z、a-z）、數字（0-9）、符號（例如 $ # %%）",
		"rules.classes1":       "包含英文字母、數字或符號",
		"rules.chars":          "只可使用英文字母、數字及鍵盤上的符號：不可有空格、重音字母或中文字",
		"rules.differ":         "與現有密碼不同",
		"rules.met":            "已符合",
		"rules.unmet":          "未符合",
		"rules.summary":        "已符合 {n} / {total} 項規則",
		"rules.match":          "兩次輸入的新密碼相同。",
		"rules.nomatch":        "兩次輸入的新密碼尚未相同。",
		"errors.heading":       "請修正以下各項：",
		"err.required.card":    "請輸入圖書證號碼。",
		"err.required.code":    "請輸入圖書館給你的設定碼或一次性密碼。",
		"err.required.current": "請輸入現有密碼。",
		"err.required.new":     "請選擇新密碼。",
		"err.required.confirm": "請再次輸入新密碼。",
		"err.mismatch":         "兩次輸入的新密碼不相同。請在兩個欄位輸入同一個密碼。",
		"err.too_short":        "太短：最少要有 %d 個字元。",
		"err.too_long":         "太長：最多只可有 %d 個字元。",
		"err.too_few_classes":  "請混合最少 %d 類字元：英文字母、數字、符號。",
		"err.too_few_classes1": "請使用英文字母、數字或符號。",
		"err.bad_char":         "第 %d 個字元不可使用：只可使用英文字母、數字及鍵盤上的符號（不可有空格、重音字母或中文字）。",
		"err.same_as_old":      "新密碼必須與現有密碼不同。",
		"err.policy":           "此密碼不符合上述規則。",
		"err.badcode":          "圖書證號碼或設定碼不正確。請檢查兩者後再試。多次輸入錯誤後，圖書證會被暫時鎖定；如問題持續，請到圖書館服務台查詢。",
		"err.expired":          "此設定碼已過期。請向圖書館索取新的設定碼。",
		"err.notpermitted":     "此圖書證不能在網上設定密碼。請到圖書館服務台查詢。",
		"err.badold":           "圖書證號碼或現有密碼不正確，或此圖書證不能在網上更改密碼。請檢查兩者後再試。多次輸入錯誤後，圖書證會被暫時鎖定；如問題持續，請到圖書館服務台查詢。",
		"err.csrf":             "此表格已過期或來自其他網站，因此沒有作出任何更改。請重新填寫。",
		"err.throttled":        "此裝置嘗試次數過多，沒有作出任何更改。請等候約 %d 分鐘後再試。",
		"err.unavailable":      "密碼服務繁忙或暫時無法使用，因此沒有作出任何更改。請於數分鐘後再試。",
		"err.notfound":         "沒有此頁面。",
		"err.method":           "此頁面不能以這種方式使用。",
		"throttled.title":      "請稍候",
		"unavailable.title":    "請稍後再試",
		"notfound.title":       "找不到頁面",
		"done.setup.title":     "密碼已設定",
		"done.setup":           "你的密碼已設定。現在可以用圖書證號碼及新密碼登入圖書館的各項服務。",
		"done.change.title":    "密碼已更改",
		"done.change":          "你的密碼已更改。請由現在起使用新密碼。",
		"done.back":            "返回密碼頁面",
		"error.prefix":         "錯誤：",
	},
}

// T returns the message key in lang, formatted with args. A missing key
// shows the key itself (a test keeps the catalogue complete).
func T(lang, key string, args ...any) string {
	m, ok := messages[lang]
	if !ok {
		m = messages[LangEnglish]
	}
	s, ok := m[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// supported maps a language tag the client sent to one of ours.
func supported(tag string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(tag))
	switch {
	case t == "en" || strings.HasPrefix(t, "en-"):
		return LangEnglish, true
	case t == "zh" || strings.HasPrefix(t, "zh-"):
		// Every Chinese variant gets Traditional Chinese, the written
		// language of Hong Kong (there is no Simplified catalogue).
		return LangChinese, true
	}
	return "", false
}

// fromAcceptLanguage picks the supported language the client prefers most
// (RFC 9110 quality values), or English.
func fromAcceptLanguage(h string) string {
	type choice struct {
		lang string
		q    float64
		pos  int
	}
	var cs []choice
	for i, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if l, ok := supported(tag); ok && q > 0 {
			cs = append(cs, choice{l, q, i})
		}
	}
	if len(cs) == 0 {
		return LangEnglish
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	return cs[0].lang
}

// langCookie remembers the language chosen with the switch.
const langCookie = "bindery_lang"

// chooseLang picks the language of a request: ?lang= (the switch), the
// form's lang field, the cookie the switch set, then Accept-Language.
func chooseLang(r *http.Request) (lang string, switched bool) {
	if l, ok := exactLang(r.URL.Query().Get("lang")); ok {
		return l, true
	}
	if r.Method == http.MethodPost {
		if l, ok := exactLang(r.PostFormValue("lang")); ok {
			return l, false
		}
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := exactLang(c.Value); ok {
			return l, false
		}
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language")), false
}

func exactLang(v string) (string, bool) {
	for _, l := range languages {
		if strings.EqualFold(v, l) {
			return l, true
		}
	}
	return "", false
}
