package config

// validateSecrets checks [log] secret_attributes: attribute names. Unset,
// proxy.DefaultSecretAttributes apply (userPassword, unicodePwd,
// sambaNTPassword).
func (l *Log) validateSecrets() Problems {
	var p Problems
	for i, a := range l.SecretAttributes {
		if !attrNameRE.MatchString(a) {
			p.add("log.secret_attributes[%d]: %q is not an attribute name", i, a)
		}
	}
	return p
}
